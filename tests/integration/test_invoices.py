"""Invoices end to end on SQLite and PostgreSQL: real workers, a real SMTP server on loopback, PDFs read back."""
from __future__ import annotations

import io
import re
import threading
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from kombu import Connection
from pypdf import PdfReader
from sqlalchemy import select, text

from invoicing.models import Invoice
from invoicing.money import LineItem
from invoicing.options import InvoicingOptions
from invoicing.party import Party
from invoicing.request import InvoiceRequest
from invoicing.store import store_invoice
from jobs.enqueue import submit_job
from jobs.models import Job, OutboxMessage
from tests.conftest import Stack
from tests.integration.test_api import assert_error
from tests.integration.test_sign_in import csrf_token, sign_in
from tests.support.accounts import token_client
from tests.support.api import wait_for_job, wait_for_state
from tests.support.processes import CeleryWorker, Notifier, WorkerSlot, wait_for
from tests.support.smtp import RecordingHandler, smtp_server

pytestmark = pytest.mark.integration

QUEUES = "invoices,invoices.bulk,notifications"


@pytest.fixture(scope="module")
def smtp(stack: Stack) -> Iterator[tuple[Any, RecordingHandler]]:
    with smtp_server() as server:
        yield server


@pytest.fixture(scope="module")
def workers(stack: Stack, smtp: tuple[Any, RecordingHandler]) -> Iterator[WorkerSlot]:
    controller, _handler = smtp
    env = {**stack.env, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(controller.port), "SMTP_TIMEOUT_S": "5",
           "SELLER_NAME": "Seller GmbH", "MAIL_FROM": "billing@seller.test"}
    manager = WorkerSlot(env, stack.log_dir, queues=QUEUES, concurrency=2)
    yield manager
    manager.stop()


@pytest.fixture(scope="module")
def notifier(stack: Stack) -> Iterator[Notifier]:
    """The notification service, which turns each invoice.issued into the invoice's email job."""
    process = Notifier(stack.env, stack.log_dir).start()
    yield process
    process.stop()


@pytest.fixture
def worker(workers: WorkerSlot, notifier: Notifier) -> CeleryWorker:
    return workers.ensure()


@pytest.fixture
def mail(smtp: tuple[Any, RecordingHandler]) -> RecordingHandler:
    return smtp[1]


@pytest.fixture(scope="module")
def api_app(stack: Stack) -> Flask:
    return stack.app()


@pytest.fixture
def api(stack: Stack, api_app: Flask) -> FlaskClient:
    return token_client(api_app, stack.account("operator").token)


def invoice_body(email: str = "ap@lodz.test", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer": {"name": "Łódź Trading Sp. z o.o.", "email": email, "address": "ul. Piotrkowska 1\n90-001 Łódź",
                     "country": "PL", "tax_id": "PL5551234567"},
        "currency": "EUR",
        "items": [{"description": "Consulting, Müller & José", "quantity": "3", "unit_price": "12.50",
                   "tax_rate": "21"},
                  {"description": "Travel", "quantity": 1.5, "unit_price": "9.99", "tax_rate": 21},
                  {"description": "Books (Ørsted)", "quantity": "2", "unit_price": "4.1234", "tax_rate": "10"}],
        "notes": "Thank you — danke — gracias",
    }
    return body | overrides


EXPECTED_TOTAL = "72.59"  # 37.50 + 14.99 + 8.25 = 60.74; 21 % of 52.49 = 11.02; 10 % of 8.25 = 0.83


def submit_invoice(api: FlaskClient, body: dict[str, Any], **headers: str) -> str:
    response = api.post("/api/invoices", json=body, headers=headers)
    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.headers["Location"] == f"/api/jobs/{response.get_json()['id']}"
    return response.get_json()["id"]


def pdf_text(api: FlaskClient, url: str) -> str:
    response = api.get(url)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)


def invoice_count(stack: Stack, where: str = "", **params: Any) -> int:
    with stack.db.read_session() as session:
        return session.execute(text(f"SELECT count(*) FROM invoices {where}"), params).scalar_one()


def numbers(stack: Stack) -> list[str]:
    with stack.db.read_session() as session:
        return sorted(session.execute(text("SELECT number FROM invoices")).scalars())


def assert_gapless(stack: Stack) -> None:
    taken = numbers(stack)
    by_year: dict[str, list[int]] = {}
    for number in taken:
        _prefix, year, sequence = number.split("-")
        by_year.setdefault(year, []).append(int(sequence))
    for year, sequences in by_year.items():
        assert sorted(sequences) == list(range(1, len(sequences) + 1)), f"gap or repeat in {year}: {sequences}"


# --- one invoice through the API, with its PDF and its email --------------------------------------

def test_an_api_submission_makes_one_invoice_with_its_pdf_and_emails_it(
    stack: Stack, api: FlaskClient, worker: CeleryWorker, mail: RecordingHandler
) -> None:
    email = "ap-api@lodz.test"
    job = wait_for_state(api, submit_invoice(api, invoice_body(email)), "succeeded")
    result = job["result"]
    assert re.fullmatch(r"INV-\d{4}-\d{6}", result["number"])
    assert (result["currency"], result["subtotal"], result["tax_total"], result["total"]) == (
        "EUR", "60.74", "11.85", EXPECTED_TOTAL)
    assert invoice_count(stack, "WHERE job_id = :job", job=job["id"].replace("-", "") if stack.backend == "sqlite"
                         else job["id"]) == 1

    text_of_pdf = pdf_text(api, result["pdf_url"])
    for expected in (result["number"], EXPECTED_TOTAL, "Łódź Trading Sp. z o.o.", "Müller & José", "Ørsted",
                     "Seller GmbH"):
        assert expected in text_of_pdf, expected

    invoice = api.get(f"/api/invoices/{result['invoice_id']}").get_json()
    assert invoice["number"] == result["number"] and invoice["total"] == EXPECTED_TOTAL
    assert [line["amount"] for line in invoice["lines"]] == ["37.50", "14.99", "8.25"]
    download = api.get(result["pdf_url"])
    assert download.headers["Content-Disposition"] == f"attachment; filename={result['number']}.pdf"

    delivered = wait_for(lambda: mail.messages_to(email), 30, what="the invoice email")
    [message] = delivered  # type: ignore[misc]
    assert message["Subject"] == f"Invoice {result['number']} from Seller GmbH"
    assert message["To"] == email and message["From"] == "billing@seller.test"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == f"{result['number']}.pdf"
    assert attachment.get_content() == download.data
    assert EXPECTED_TOTAL in message.get_body(("plain",)).get_content()


def test_without_send_email_no_email_job_is_started(stack: Stack, api: FlaskClient, worker: CeleryWorker,
                                                    mail: RecordingHandler) -> None:
    email = "quiet@lodz.test"
    job = wait_for_state(api, submit_invoice(api, invoice_body(email, send_email=False)), "succeeded")
    assert job["progress"]["message"] == "PDF ready"
    with stack.db.read_session() as session:
        emails = session.execute(text("SELECT count(*) FROM jobs WHERE kind = 'invoice.email' AND params LIKE :to"
                                      if stack.backend == "sqlite" else
                                      "SELECT count(*) FROM jobs WHERE kind = 'invoice.email' AND params->>'to' = :to"),
                                 {"to": f"%{email}%" if stack.backend == "sqlite" else email}).scalar_one()
    assert emails == 0 and mail.messages_to(email) == []


def test_a_permanent_smtp_refusal_fails_the_email_job_and_leaves_the_invoice(
    stack: Stack, api: FlaskClient, worker: CeleryWorker, mail: RecordingHandler
) -> None:
    mail.refuse["nobody@lodz.test"] = 550
    job, email_job = _invoice_and_email_job(stack, api, "nobody@lodz.test", "failed")
    assert "refused" in email_job["error"]["message"] and "550" in email_job["error"]["message"]
    assert email_job["attempts"] == 1  # a 5xx is not retried
    invoice = api.get(f"/api/invoices/{job['result']['invoice_id']}").get_json()
    assert invoice["total"] == EXPECTED_TOTAL and invoice["pdf_url"]
    with stack.db.read_session() as session:  # the failure's events, written with it
        events = set(session.scalars(select(OutboxMessage.task_name).where(
            OutboxMessage.job_id == uuid.UUID(email_job["id"]), OutboxMessage.event.is_not(None))))
    assert events == {"job.failed", "invoice.email_failed", "job.dead_lettered"}
    wait_for(lambda: dead_letter_count(stack, "notifications.dead"), 30, what="the email in notifications.dead")


def dead_letter_count(stack: Stack, queue: str) -> int:
    with Connection(stack.broker_url) as connection:
        return int(connection.default_channel.queue_declare(queue, passive=True).message_count)


def test_a_temporary_smtp_failure_is_retried_and_then_delivered(
    stack: Stack, api: FlaskClient, worker: CeleryWorker, mail: RecordingHandler
) -> None:
    mail.defer["busy@lodz.test"] = 1
    _job, email_job = _invoice_and_email_job(stack, api, "busy@lodz.test", "succeeded")
    assert email_job["attempts"] == 2
    assert [a["outcome"] for a in email_job["attempt_history"]] == ["retrying", "succeeded"]
    assert len(mail.messages_to("busy@lodz.test")) == 1


def _invoice_and_email_job(stack: Stack, api: FlaskClient, email: str,
                           email_state: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Issue an invoice to `email`; its job and its email job once that is `email_state`."""
    job = wait_for_state(api, submit_invoice(api, invoice_body(email)), "succeeded")
    email_job = wait_for(lambda: _email_job(api, stack, job["result"]["invoice_id"], email_state), 40,
                         what=f"the email job to be {email_state}")
    return job, email_job  # type: ignore[return-value]


def _email_job(api: FlaskClient, stack: Stack, invoice_id: str, state: str) -> dict[str, Any] | None:
    with stack.db.read_session() as session:
        job_id = session.scalar(select(Job.id).join(Invoice, Invoice.job_id == Job.caused_by)
                                .where(Job.kind == "invoice.email", Invoice.id == uuid.UUID(invoice_id)))
    if job_id is None:
        return None
    job = api.get(f"/api/jobs/{job_id}").get_json()
    return job if job["state"] == state else None


# --- the form ------------------------------------------------------------------------------------

def test_the_form_keeps_values_and_names_errors_then_creates_the_invoice(
    stack: Stack, api_app: Flask, worker: CeleryWorker
) -> None:
    person = stack.account("operator")
    browser = api_app.test_client()
    assert sign_in(browser, person.email, person.password).status_code == 302
    token = csrf_token(browser.get("/invoices/new"))
    fields = {"csrf_token": token, "customer-name": "Müller GmbH", "customer-email": "not-an-email",
              "currency": "EUR", "due_date": "2000-01-01",
              "items-0-description": "Design", "items-0-quantity": "2", "items-0-unit_price": "100",
              "items-0-tax_rate": "19",
              "items-1-description": "Hosting", "items-1-quantity": "-1", "items-1-unit_price": "5",
              "items-1-tax_rate": "19"}
    refused = browser.post("/invoices/new", data=fields)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    for field in ("customer-email", "items-1-quantity", "due_date"):
        assert f'id="{field}-error"' in page and f'aria-describedby="{field}-error"' in page, field
    assert 'value="Müller GmbH"' in page and 'value="Hosting"' in page  # what was typed stays

    fields |= {"customer-email": "buchhaltung@mueller.test", "items-1-quantity": "1", "due_date": ""}
    accepted = browser.post("/invoices/new", data=fields)
    assert accepted.status_code == 303 and accepted.headers["Location"].startswith("/jobs/")
    job_id = accepted.headers["Location"].rsplit("/", 1)[1]
    job_page = browser.get(accepted.headers["Location"])
    assert job_page.status_code == 200 and "job_progress.js" in job_page.get_data(as_text=True)
    job = wait_for_state(token_client(api_app, person.token), job_id, "succeeded")
    assert job["result"]["total"] == "243.95"  # 200.00 + 5.00, and 19 % of 205.00 = 38.95
    assert job["result"]["number"] in browser.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert job["result"]["number"] in pdf_text(browser, job["result"]["pdf_url"])


# --- crashes and concurrency ---------------------------------------------------------------------

def test_a_worker_killed_while_rendering_leaves_exactly_one_invoice(
    stack: Stack, api: FlaskClient, workers: WorkerSlot
) -> None:
    worker = workers.ensure()
    wrapping = "with a description long enough to wrap over several lines of the PDF table " * 3
    many_lines = [{"description": f"Line {i} {wrapping}", "quantity": "1", "unit_price": "1.00", "tax_rate": "20"}
                  for i in range(1000)]
    job_id = submit_invoice(api, invoice_body("big@lodz.test", items=many_lines, send_email=False))
    job_key = job_id.replace("-", "") if stack.backend == "sqlite" else job_id
    wait_for(lambda: invoice_count(stack, "WHERE job_id = :job AND pdf_path IS NULL", job=job_key), 60, interval=0.02,
             what="the invoice to be stored and its PDF to be rendering")
    worker.kill_all()
    workers.ensure()
    job = wait_for_state(api, job_id, "succeeded", timeout=120)
    assert [a["outcome"] for a in job["attempt_history"]] == ["lost", "succeeded"]
    assert invoice_count(stack, "WHERE job_id = :job", job=job_key) == 1
    assert job["result"]["total"] == "1200.00"
    assert_gapless(stack)


def test_twenty_concurrent_submissions_get_twenty_distinct_gapless_numbers(
    stack: Stack, api_app: Flask, worker: CeleryWorker
) -> None:
    token = stack.account("operator").token
    ids: list[str] = []
    lock = threading.Lock()

    def submit_one(index: int) -> None:
        client = token_client(api_app, token)
        job_id = submit_invoice(client, invoice_body(f"concurrent{index}@lodz.test", send_email=False))
        with lock:
            ids.append(job_id)

    threads = [threading.Thread(target=submit_one, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client = token_client(api_app, token)
    jobs = [wait_for_state(client, job_id, "succeeded", timeout=90) for job_id in ids]
    mine = [job["result"]["number"] for job in jobs]
    assert len(set(mine)) == 20
    assert_gapless(stack)


# --- batches -------------------------------------------------------------------------------------

def insert_orders(stack: Stack, start_id: int, customers: int, per_customer: int, day: str) -> None:
    rows = [{"order_id": start_id + c * per_customer + n, "order_date": day, "email": f"batch{c}-{start_id}@shop.test",
             "sku": f"SKU-{n}", "quantity": 1 + n, "price": "10.50"}
            for c in range(customers) for n in range(per_customer)]
    with stack.db.transaction() as session:
        session.execute(text(
            "INSERT INTO orders (order_id, order_date, customer_email, sku, quantity, unit_price, currency, country) "
            "VALUES (:order_id, :order_date, :email, :sku, :quantity, :price, 'EUR', 'DE')"), rows)


def run_batch(api: FlaskClient, start: str, end: str, **headers: str) -> dict[str, Any]:
    response = api.post("/api/invoices/batch", json={"period_start": start, "period_end": end, "send_email": False},
                        headers=headers)
    assert response.status_code == 202, response.get_data(as_text=True)
    return wait_for_job(api, response.get_json()["id"], lambda j: j["state"] in ("succeeded", "failed"), 120,
                        "the batch to finish")


def test_a_batch_over_50_orders_of_10_customers_makes_10_invoices_and_a_second_run_none(
    stack: Stack, api: FlaskClient, worker: CeleryWorker
) -> None:
    # 2019: no other test has orders then (the import tests load orders all over 2026).
    insert_orders(stack, 10_000, customers=10, per_customer=5, day="2019-03-15")
    insert_orders(stack, 20_000, customers=2, per_customer=2, day="2019-04-02")  # outside the period
    with stack.db.transaction() as session:  # one of them is known from the customers dataset
        session.execute(text("INSERT INTO customers (customer_id, name, email, country, tax_id, address) VALUES "
                             "(910000, 'Ørsted Batch A/S', 'batch0-10000@shop.test', 'DK', 'DK123', "
                             "'Kraftværksvej 53')"))
    first = run_batch(api, "2019-03-01", "2019-03-31")
    assert first["state"] == "succeeded", first
    assert first["result"]["invoices"] == 10 and len(first["result"]["children"]) == 10
    assert first["result"]["failed"] == []
    assert first["progress"]["done"] == first["progress"]["total"] == 10
    with stack.db.read_session() as session:
        billed = session.execute(text("SELECT count(*), count(DISTINCT invoice_id) FROM orders "
                                      "WHERE order_id BETWEEN 10000 AND 10049 AND invoice_id IS NOT NULL")).one()
        untouched = session.execute(text("SELECT count(*) FROM orders WHERE order_id >= 20000 AND invoice_id IS NULL")
                                    ).scalar_one()
    assert tuple(billed) == (50, 10) and untouched == 4
    child = api.get(f"/api/jobs/{first['result']['children'][0]}").get_json()
    assert child["kind"] == "invoice.customer_batch" and child["queue"] == "invoices.bulk"
    # 5 lines: quantities 1..5 of 10.50 at the batch tax rate 0 % = 157.50
    assert child["result"]["total"] == "157.50"
    known = api.get("/api/invoices", query_string={"customer": "batch0-10000@"}).get_json()["items"]
    assert [(i["customer"]["name"], i["customer"]["address"], i["customer"]["tax_id"]) for i in known] == [
        ("Ørsted Batch A/S", "Kraftværksvej 53", "DK123")]
    assert "Kraftværksvej 53" in pdf_text(api, known[0]["pdf_url"])

    second = run_batch(api, "2019-03-01", "2019-03-31")
    assert second["state"] == "succeeded" and second["result"] == {"invoices": 0, "children": [], "failed": []}
    assert_gapless(stack)


def test_a_single_invoice_starts_within_seconds_while_a_batch_runs(
    stack: Stack, api: FlaskClient, workers: WorkerSlot
) -> None:
    workers.stop()  # as in the Procfile: one worker for invoices, another for invoices.bulk
    bulk = CeleryWorker(workers.env, stack.log_dir, queues="invoices.bulk", concurrency=1).start()
    single = CeleryWorker(workers.env, stack.log_dir, queues="invoices", concurrency=1).start()
    try:
        insert_orders(stack, 30_000, customers=40, per_customer=3, day="2018-06-10")
        response = api.post("/api/invoices/batch", json={"period_start": "2018-06-01", "period_end": "2018-06-30",
                                                         "send_email": False})
        batch_id = response.get_json()["id"]
        wait_for_job(api, batch_id, lambda j: (j["progress"]["total"] or 0) == 40, 30,
                     "the batch to start its children")
        job_id = submit_invoice(api, invoice_body("urgent@lodz.test", send_email=False))
        urgent = wait_for_state(api, job_id, "succeeded", timeout=30)
        batch = api.get(f"/api/jobs/{batch_id}").get_json()
        waited = (parse_time(urgent["started_at"]) - parse_time(urgent["created_at"])).total_seconds()
        assert waited < 5, f"the single invoice waited {waited:.1f} s behind the batch"
        assert batch["state"] == "running" and batch["progress"]["done"] < 40  # the batch was still going
        assert wait_for_job(api, batch_id, lambda j: j["state"] == "succeeded", 120, "the batch")["result"][
            "invoices"] == 40
    finally:
        bulk.stop()
        single.stop()


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- idempotency keys ----------------------------------------------------------------------------

def test_the_same_idempotency_key_and_body_answer_the_first_job(stack: Stack, api: FlaskClient) -> None:
    key = f"order-{stack.backend}-1"
    first = api.post("/api/invoices", json=invoice_body(), headers={"Idempotency-Key": key})
    again = api.post("/api/invoices", json=invoice_body(), headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 202
    assert again.get_json()["id"] == first.get_json()["id"]
    other_body = api.post("/api/invoices", json=invoice_body(notes="changed"), headers={"Idempotency-Key": key})
    assert assert_error(other_body, 422)["fields"] == [
        {"field": "Idempotency-Key", "reason": "already used with a different request body"}]
    someone_else = token_client(api.application, stack.account("operator").token)
    theirs = someone_else.post("/api/invoices", json=invoice_body(), headers={"Idempotency-Key": key})
    assert theirs.status_code == 202 and theirs.get_json()["id"] != first.get_json()["id"]  # keys are per user


def test_a_key_still_being_accepted_gets_409(stack: Stack, api: FlaskClient) -> None:
    if stack.backend != "postgresql":
        pytest.skip("SQLite's write lock makes the second request wait for the first instead")
    me = api.get("/api/me").get_json()
    with stack.db.read_session() as session:
        user_id = session.execute(text("SELECT id FROM users WHERE email = :e"), {"e": me["email"]}).scalar_one()
    dsn = stack.settings.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as other:  # a request with this key in the middle of its transaction
        other.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"invoice.create|{user_id}:in-flight",))
        response = api.post("/api/invoices", json=invoice_body(), headers={"Idempotency-Key": "in-flight"})
        error = assert_error(response, 409)
        assert "still being accepted" in error["message"] and response.headers["Retry-After"] == "1"
    assert api.post("/api/invoices", json=invoice_body(), headers={"Idempotency-Key": "in-flight"}).status_code == 202


# --- validation and listing ----------------------------------------------------------------------

def test_every_bad_field_is_listed_with_its_reason(stack: Stack, api: FlaskClient) -> None:
    body = {"customer": {"name": "", "email": "bad"}, "currency": "ZZZ", "issue_date": "2026-05-01",
            "due_date": "2026-04-01", "items": [{"description": "x", "quantity": "-1", "unit_price": "abc",
                                                  "tax_rate": "101"}]}
    error = assert_error(api.post("/api/invoices", json=body), 422)
    assert {item["field"] for item in error["fields"]} == {
        "customer.name", "customer.email", "currency", "due_date", "items.0.quantity", "items.0.unit_price",
        "items.0.tax_rate"}
    assert assert_error(api.post("/api/invoices", json=invoice_body(items=[])), 422)["fields"][0]["field"] == "items"
    too_precise = invoice_body(items=[{"description": "x", "quantity": "1.0001", "unit_price": "1.00001",
                                       "tax_rate": "5"}])
    assert {item["field"] for item in assert_error(api.post("/api/invoices", json=too_precise), 422)["fields"]} == {
        "items.0.quantity", "items.0.unit_price"}
    batch = api.post("/api/invoices/batch", json={"period_start": "2026-05-01", "period_end": "2026-04-01"})
    assert assert_error(batch, 422)["fields"][0]["field"] == "period_end"


def test_invoices_are_listed_newest_first_and_filtered(stack: Stack, api: FlaskClient, worker: CeleryWorker) -> None:
    mine = f"filter-{stack.backend}@lodz.test"
    # Next year's series: a date in this year's could come before invoices other tests issued today.
    issued = date(date.today().year + 1, 2, 10)
    job = wait_for_state(api, submit_invoice(api, invoice_body(mine, send_email=False,
                                                               issue_date=issued.isoformat())), "succeeded")
    found = api.get("/api/invoices", query_string={"customer": f"filter-{stack.backend}"}).get_json()["items"]
    assert [item["number"] for item in found] == [job["result"]["number"]]
    assert found[0]["issue_date"] == issued.isoformat()
    assert found[0]["due_date"] == (issued + timedelta(days=30)).isoformat()
    in_range = api.get("/api/invoices", query_string={"date_from": issued.isoformat(), "date_to": issued.isoformat(),
                                                      "limit": 100}).get_json()["items"]
    assert job["result"]["number"] in [item["number"] for item in in_range]
    assert all(item["issue_date"] == issued.isoformat() for item in in_range)
    assert assert_error(api.get("/api/invoices/not-an-id"), 404)
    assert assert_error(api.get("/api/invoices", query_string={"date_from": "yesterday"}), 422)


# --- bounds: every value fits where it goes (issue 14) -------------------------------------------

def job_total(stack: Stack) -> int:
    with stack.db.read_session() as session:
        return session.execute(text("SELECT count(*) FROM jobs")).scalar_one()


@pytest.mark.parametrize(("items", "reason"), [
    ([{"description": "x", "quantity": "999999999999", "unit_price": "99999999999", "tax_rate": "21"}],
     "line 1: the line's amount"),
    ([{"description": "a", "quantity": "1", "unit_price": "1", "tax_rate": "0"},
      {"description": "b", "quantity": "100000", "unit_price": "99999999", "tax_rate": "0"}], "line 2"),
    ([{"description": f"l{i}", "quantity": "1000", "unit_price": "999999999", "tax_rate": "0"} for i in range(3)],
     "the invoice's total with tax must stay below"),
    ([{"description": "x", "quantity": "900000", "unit_price": "1000000", "tax_rate": "100"}],
     "the invoice's total with tax"),
])
def test_amounts_that_the_columns_cannot_hold_are_refused_at_submit(
    stack: Stack, api: FlaskClient, items: list[dict[str, str]], reason: str
) -> None:
    before = job_total(stack), invoice_count(stack)
    error = assert_error(api.post("/api/invoices", json=invoice_body(items=items)), 422)
    assert [field["field"] for field in error["fields"]] == ["items"]
    assert reason in error["fields"][0]["reason"]
    assert (job_total(stack), invoice_count(stack)) == before


@pytest.mark.parametrize("body", [
    {"issue_date": "1900-01-01"}, {"issue_date": "9999-12-31"}, {"issue_date": "0001-01-01"},
    {"issue_date": "2026-01-01", "due_date": "2099-01-01"},
])
def test_dates_out_of_a_sane_range_are_refused(api: FlaskClient, body: dict[str, str]) -> None:
    error = assert_error(api.post("/api/invoices", json=invoice_body(**body)), 422)
    assert {field["field"] for field in error["fields"]} <= {"issue_date", "due_date"}
    batch = api.post("/api/invoices/batch", json={"period_start": "1800-01-01", "period_end": "2026-01-31"})
    assert assert_error(batch, 422)["fields"][0]["field"] == "period_start"
    endless = api.post("/api/invoices/batch", json={"period_start": "2020-01-01", "period_end": "2026-01-31"})
    assert "at most 366 days" in assert_error(endless, 422)["fields"][0]["reason"]


@pytest.mark.parametrize("email", [
    "ap@lodz.test, boss@lodz.test", "ap@lodz.test;boss@lodz.test", "AP <ap@lodz.test>", "ap@lodz.test (billing)",
    "ap@lodz.test\r\nBcc: everyone@lodz.test", "ap\u200b@lodz.test", "ap@lodz", "ap@@lodz.test", '"a p"@lodz.test',
    "ap@lodz_test.pl",
])
def test_a_customer_email_must_be_one_bare_address(stack: Stack, api: FlaskClient, email: str) -> None:
    before = job_total(stack)
    error = assert_error(api.post("/api/invoices", json=invoice_body(email)), 422)
    assert [field["field"] for field in error["fields"]] == ["customer.email"]
    assert job_total(stack) == before


def test_an_invoice_dated_before_the_last_of_its_series_is_refused_and_the_numbers_stay_gapless(
    stack: Stack, api: FlaskClient, workers: WorkerSlot
) -> None:
    workers.ensure()
    # The 2001 series, used by no other test.
    first = wait_for_state(api, submit_invoice(api, invoice_body(send_email=False, issue_date="2001-06-01")),
                           "succeeded")
    assert first["result"]["number"] == "INV-2001-000001"
    refused = assert_error(api.post("/api/invoices", json=invoice_body(send_email=False, issue_date="2001-05-01")),
                           422)  # told at once
    assert refused["fields"][0]["field"] == "issue_date"
    assert "2001-06-01" in refused["fields"][0]["reason"] and "INV-2001-000001" in refused["fields"][0]["reason"]

    # Accepted while nothing later existed, then another invoice of the series is issued first: the job,
    # which checks under the counter's lock, fails readably and takes no number.
    workers.stop()
    waiting = submit_invoice(api, invoice_body(send_email=False, issue_date="2001-06-05"))
    with stack.db.transaction() as session:  # the other invoice's job, as if another worker had run it
        other_job, _message = submit_job(session, "invoice.create", {})
        session.execute(text("DELETE FROM outbox_messages WHERE job_id = :job"),
                        {"job": other_job.id.hex if stack.backend == "sqlite" else other_job.id})
    options = InvoicingOptions(seller=Party("Seller"), invoice_dir=stack.settings.invoice_dir, due_days=30)
    with stack.db.transaction() as session:
        store_invoice(session, other_job.id, InvoiceRequest(
            customer=Party("Other Ltd", email="other@example.test"), currency="EUR",
            items=(LineItem("x", Decimal(1), Decimal(1), Decimal(0)),), issue_date=date(2001, 6, 20)), options)
    workers.ensure()
    failed = wait_for_state(api, waiting, "failed")
    message = failed["error"]["message"]
    assert "issue_date" in message and "2001-06-20" in message and "INV-2001-000002" in message
    assert "SELECT" not in message
    last = wait_for_state(api, submit_invoice(api, invoice_body(send_email=False, issue_date="2001-06-20")),
                          "succeeded")
    assert last["result"]["number"] == "INV-2001-000003"  # the refused one took no number
    assert_gapless(stack)


@pytest.mark.parametrize("name", ["items-²-quantity", "items-٣-quantity", "items-99999999999999999999-quantity",
                                  "items-200-quantity", "items-0-colour", "items--1-quantity"])
def test_item_field_names_the_form_never_makes_are_a_422(stack: Stack, api_app: Flask, name: str) -> None:
    person = stack.account("operator")
    browser = api_app.test_client()
    assert sign_in(browser, person.email, person.password).status_code == 302
    before = job_total(stack)
    fields = {"csrf_token": csrf_token(browser.get("/invoices/new")), "customer-name": "Müller GmbH",
              "customer-email": "ap@mueller.test", "currency": "EUR", "items-0-description": "Design",
              "items-0-quantity": "2", "items-0-unit_price": "100", "items-0-tax_rate": "19", name: "1"}
    refused = browser.post("/invoices/new", data=fields)
    assert refused.status_code == 422
    assert 'id="items-error"' in refused.get_data(as_text=True)
    assert job_total(stack) == before
