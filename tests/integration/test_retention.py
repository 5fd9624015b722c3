"""`flask jobs purge`: finished jobs and import files past their retention go; invoices and unfinished jobs stay."""
from __future__ import annotations

import io
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text, update

from etl.models import ImportRun
from etl.storage import errors_path, upload_path
from invoicing.money import LineItem
from invoicing.options import InvoicingOptions
from invoicing.party import Party
from invoicing.request import InvoiceRequest
from invoicing.store import store_invoice
from jobs.db import utcnow
from jobs.enqueue import submit_job
from jobs.models import Job
from tests.conftest import Stack
from tests.integration.test_account_commands import flask
from tests.integration.test_api import CLOSED_PORT_BROKER

pytestmark = pytest.mark.integration


def aged_job(stack: Stack, state: str, days: float, kind: str = "diagnostics.sleep") -> uuid.UUID:
    """A job finished (or last changed, for an unfinished one) `days` ago, written straight to the database."""
    with stack.db.transaction() as session:
        job, _message = submit_job(session, kind, {"seconds": 0})
        when = utcnow() - timedelta(days=days)
        session.execute(update(Job).where(Job.id == job.id).values(
            state=state, created_at=when, updated_at=when, finished_at=when if state != "running" else None))
    return job.id


def invoiced_job(stack: Stack, days: float) -> uuid.UUID:
    job_id = aged_job(stack, "succeeded", days, kind="invoice.create")
    request = InvoiceRequest(customer=Party("Kept Ltd", email="kept@example.test"), currency="EUR",
                             items=(LineItem("x", Decimal(1), Decimal(1), Decimal(0)),))
    options = InvoicingOptions(seller=Party("Seller"), invoice_dir=stack.settings.invoice_dir, due_days=30)
    with stack.db.transaction() as session:
        store_invoice(session, job_id, request, options)
    return job_id


def aged_import(stack: Stack, client: FlaskClient, job_days: float | None, file_days: float) -> uuid.UUID:
    """An import with its upload and errors.csv on disk, its row untouched for `file_days`."""
    response = client.post("/api/etl", data={"dataset": "customers", "file": (
        io.BytesIO(b"customer_id,name,email,country\n1,Ann,a@x.io,DE\n"), "c.csv")}, content_type="multipart/form-data")
    assert response.status_code == 202, response.get_data(as_text=True)
    job_id = uuid.UUID(response.get_json()["id"])
    errors_path(stack.settings.upload_dir, job_id).write_text("line,column,value,reason\n")
    with stack.db.transaction() as session:
        session.execute(update(ImportRun).where(ImportRun.job_id == job_id)
                        .values(updated_at=utcnow() - timedelta(days=file_days)))
        if job_days is not None:
            when = utcnow() - timedelta(days=job_days)
            session.execute(update(Job).where(Job.id == job_id).values(state="succeeded", finished_at=when))
    return job_id


def exists(stack: Stack, job_id: uuid.UUID) -> bool:
    with stack.db.read_session() as session:
        return session.get(Job, job_id) is not None


def files_of(stack: Stack, job_id: uuid.UUID) -> list[bool]:
    directory = stack.settings.upload_dir
    return [upload_path(directory, job_id).exists(), errors_path(directory, job_id).exists()]


def test_a_purge_removes_what_is_past_retention_and_keeps_what_is_needed(stack: Stack) -> None:
    offline = stack.client(stack.app(broker_url=CLOSED_PORT_BROKER), "operator")  # no worker takes the imports
    old_done, old_failed = aged_job(stack, "succeeded", 120), aged_job(stack, "failed", 100)
    recent, old_running = aged_job(stack, "succeeded", 5), aged_job(stack, "running", 200)
    invoiced = invoiced_job(stack, 400)
    old_import = aged_import(stack, offline, job_days=120, file_days=120)
    kept_import = aged_import(stack, offline, job_days=None, file_days=30)  # job kept, files past 14 days
    fresh_import = aged_import(stack, offline, job_days=None, file_days=1)
    with stack.db.read_session() as session:
        audit_before = session.execute(text("SELECT count(*) FROM job_audit")).scalar_one()
        invoices_before = session.execute(text("SELECT count(*) FROM invoices")).scalar_one()
    metrics_client = stack.client(stack.app(), "viewer")
    assert "jobs_past_retention 0.0" not in metrics_client.get("/metrics").get_data(as_text=True)

    purged = flask(stack.env, "jobs", "purge")
    assert purged.returncode == 0, purged.stderr
    assert "finished jobs" in purged.stdout

    for gone in (old_done, old_failed, old_import):
        assert not exists(stack, gone)
    for kept in (recent, old_running, invoiced, kept_import, fresh_import):
        assert exists(stack, kept)
    assert files_of(stack, old_import) == [False, False]
    assert files_of(stack, kept_import) == [False, False]
    assert files_of(stack, fresh_import) == [True, True]
    with stack.db.read_session() as session:
        assert session.execute(text("SELECT count(*) FROM job_audit")).scalar_one() < audit_before
        assert session.execute(text("SELECT count(*) FROM invoices")).scalar_one() == invoices_before
        assert session.scalar(text("SELECT count(*) FROM invoices WHERE job_id = :j"),
                              {"j": invoiced.hex if stack.backend == "sqlite" else invoiced}) == 1
    assert "jobs_past_retention 0.0" in metrics_client.get("/metrics").get_data(as_text=True)
    again = flask(stack.env, "jobs", "purge")
    assert "purged 0 finished jobs and 0 import files" in again.stdout
    # The kept import's figures still answer; its errors.csv is gone, said as a 404 rather than a 500.
    assert offline.get(f"/api/etl/{kept_import}").status_code == 200
    assert offline.get(f"/api/etl/{kept_import}/errors.csv").status_code == 404
