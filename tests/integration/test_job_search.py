"""Finding jobs (GET /api/jobs and /jobs): each filter alone and combined, counts over all pages, on SQLite and
PostgreSQL. The jobs are written straight to the database (no worker runs them) by a submitter of their own."""
from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient

from invoicing.money import LineItem
from invoicing.options import InvoicingOptions
from invoicing.party import Party
from invoicing.request import InvoiceRequest
from invoicing.store import store_invoice
from jobs import lifecycle
from jobs.audit import Actor
from jobs.enqueue import submit_job
from tests.conftest import Stack
from tests.integration.test_api import CLOSED_PORT_BROKER, assert_error
from tests.integration.test_sign_in import sign_in
from tests.support.accounts import token_client

pytestmark = pytest.mark.integration

SLEEP = {"seconds": 0, "fail_times": 0, "steps": 1}


def write_job(stack: Stack, who: str, kind: str = "diagnostics.sleep", parent: uuid.UUID | None = None,
              error: tuple[str, str] | None = None) -> uuid.UUID:
    with stack.db.transaction() as session:
        job, _message = submit_job(session, kind, SLEEP if kind.startswith("diagnostics") else {},
                                   actor=Actor(who, "test"), parent_id=parent)
    if error is not None:
        with stack.db.transaction() as session:
            lifecycle.begin_attempt(session, job.id, redelivered=False, worker="test", max_worker_lost=3)
            lifecycle.fail(session, job.id, 1, {"type": error[0], "message": error[1]})
    return job.id


@pytest.fixture(scope="module")
def world(stack: Stack) -> dict[str, Any]:
    """One submitter's jobs: 3 queued, 2 failed (two error types), a batch with 2 children, an invoice, an import."""
    who = f"searcher-{uuid.uuid4().hex[:8]}@example.test"
    queued = [write_job(stack, who) for _ in range(3)]
    smtp_down = write_job(stack, who, error=("SmtpDown", "the mail server at smtp.example.test did not answer"))
    timed_out = write_job(stack, who, error=("TimeLimitExceeded", "the job took longer than its time limit"))
    batch = write_job(stack, who, kind="invoice.batch")
    children = [write_job(stack, who, kind="invoice.customer_batch", parent=batch) for _ in range(2)]
    customer = f"Zażółć {uuid.uuid4().hex[:6]} GmbH"
    invoice_job = write_job(stack, who, kind="invoice.create")
    request = InvoiceRequest(customer=Party(customer, email=f"{uuid.uuid4().hex[:6]}@zazolc.test"), currency="EUR",
                             items=(LineItem("x", Decimal(1), Decimal(1), Decimal(0)),))
    with stack.db.transaction() as session:
        invoice = store_invoice(session, invoice_job, request,
                                InvoicingOptions(seller=Party("Seller"), invoice_dir=stack.settings.invoice_dir,
                                                 due_days=30))
    with stack.db.transaction() as session:  # its email, as the notification service starts it
        email_job, _message = submit_job(session, "invoice.email", {"invoice_id": str(invoice.id),
                                                                    "to": request.customer.email})
    filename = f"orders-{uuid.uuid4().hex[:6]}.csv"
    uploader = token_client(stack.app(broker_url=CLOSED_PORT_BROKER), stack.account("operator").token)
    csv_file = (io.BytesIO(b"customer_id,name,email,country\n1,Ann,a@x.io,DE\n"), filename)
    upload = uploader.post("/api/etl", data={"dataset": "customers", "file": csv_file},
                           content_type="multipart/form-data")
    assert upload.status_code == 202, upload.get_data(as_text=True)
    return {"who": who, "queued": queued, "smtp_down": smtp_down, "timed_out": timed_out, "batch": batch,
            "children": children, "invoice_job": invoice_job, "number": invoice.number, "customer": customer,
            "email": request.customer.email,
            "email_job": email_job.id, "import": uuid.UUID(upload.get_json()["id"]), "filename": filename}


@pytest.fixture
def viewer(stack: Stack) -> FlaskClient:
    return token_client(stack.app(), stack.account("viewer").token)


def found(viewer: FlaskClient, **filters: object) -> set[uuid.UUID]:
    body = viewer.get("/api/jobs", query_string={"limit": 100, **filters}).get_json()
    assert body["count"] == len(body["items"]), body  # every match fits one page here
    return {uuid.UUID(item["id"]) for item in body["items"]}


def test_each_filter_alone_and_combined(viewer: FlaskClient, world: dict[str, Any]) -> None:
    who = world["who"]
    mine = found(viewer, submitted_by=who)
    assert len(mine) == 3 + 2 + 1 + 2 + 1  # the import was submitted by another account
    assert found(viewer, submitted_by=who.upper()[:12]) >= mine  # part of the email, any case
    assert found(viewer, submitted_by=who, state="queued", kind="diagnostics.sleep") == set(world["queued"])
    assert found(viewer, submitted_by=who, state="failed") == {world["smtp_down"], world["timed_out"]}
    assert found(viewer, error_type="TimeLimitExceeded", submitted_by=who) == {world["timed_out"]}
    assert found(viewer, error="SMTP.EXAMPLE") >= {world["smtp_down"]}
    assert world["timed_out"] not in found(viewer, error="smtp.example")
    assert found(viewer, parent=str(world["batch"])) == set(world["children"])
    assert found(viewer, invoice=world["number"]) == {world["invoice_job"]}
    assert found(viewer, customer=world["customer"].split()[1]) == {world["invoice_job"]}  # part of the name
    assert found(viewer, customer=world["email"].upper()) == {world["invoice_job"], world["email_job"]}
    assert found(viewer, file=world["filename"]) == {world["import"]}
    assert found(viewer, file=world["filename"], kind="invoice.create") == set()


def test_date_ranges_count_whole_utc_days(viewer: FlaskClient, world: dict[str, Any]) -> None:
    today = datetime.now(UTC).date()
    who = world["who"]
    assert len(found(viewer, submitted_by=who, created_from=today.isoformat(), created_to=today.isoformat())) == 9
    assert found(viewer, submitted_by=who, created_to=(today - timedelta(days=1)).isoformat()) == set()
    assert found(viewer, submitted_by=who, finished_from=today.isoformat()) == {world["smtp_down"], world["timed_out"]}
    error = assert_error(viewer.get("/api/jobs", query_string={"created_from": "2026-05-02",
                                                               "created_to": "2026-05-01"}), 422)
    assert error["fields"][0]["field"] == "created_to" and "before created_from" in error["fields"][0]["reason"]
    assert assert_error(viewer.get("/api/jobs", query_string={"parent": "nope"}), 422)["fields"][0]["field"] == "parent"


def test_pages_follow_the_search_and_the_count_covers_them_all(
    stack: Stack, viewer: FlaskClient, world: dict[str, Any]
) -> None:
    first = viewer.get("/api/jobs", query_string={"submitted_by": world["who"], "limit": 4}).get_json()
    second = viewer.get("/api/jobs", query_string={"submitted_by": world["who"], "limit": 4,
                                                   "cursor": first["next_cursor"]}).get_json()
    assert first["count"] == second["count"] == 9 and len(first["items"]) == len(second["items"]) == 4
    person = stack.account("viewer")
    browser = stack.app().test_client()
    assert sign_in(browser, person.email, person.password).status_code == 302
    page = browser.get("/jobs", query_string={"submitted_by": world["who"], "state": "failed",
                                               "error": "", "limit": 1}).get_data(as_text=True)
    assert "2 jobs match this search" in page
    older = page.split('rel="next"')[0].rsplit('href="', 1)[1]
    assert "submitted_by=" in older and "state=failed" in older  # the next page keeps the search


def test_the_search_form_keeps_what_was_searched(stack: Stack, world: dict[str, Any]) -> None:
    person = stack.account("viewer")
    browser = stack.app().test_client()
    assert sign_in(browser, person.email, person.password).status_code == 302
    page = browser.get("/jobs", query_string={"customer": world["customer"], "created_from": "2026-01-01"})
    html = page.get_data(as_text=True)
    assert f'name="customer" value="{world["customer"]}"' in html and 'value="2026-01-01"' in html
    assert "1 job matches this search" in html and world["invoice_job"].hex[:8] in html.replace("-", "")
