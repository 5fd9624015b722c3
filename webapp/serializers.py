"""The objects of the REST contract: a job and an invoice as JSON, with the links the web builds."""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from flask import url_for

from etl.importer import import_csv
from invoicing.amounts import exact, invoice_amounts
from invoicing.batch import invoice_customer_orders
from invoicing.issue import issue_invoice
from invoicing.models import Invoice
from jobs.hot_sql import JOB_COLUMNS
from jobs.models import AnyJob, JobAttempt, JobAuditEntry

ETAG_COLUMNS = ("id", "state", "updated_at", "attempts", "progress_done")

# Kinds whose result names the invoice they issued (its PDF is linked).
INVOICING_KINDS = frozenset({issue_invoice.name, invoice_customer_orders.name})


def iso(value: datetime | None) -> str | None:
    """UTC ISO-8601 with microseconds, as the database writes them too (jobs.hot_sql)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if value else None


def job_url(job_id: object) -> str:
    return url_for("jobs_api.get_job", job_id=str(job_id))


def errors_csv_url(job_id: object) -> str:
    return url_for("etl_api.get_errors_csv", job_id=str(job_id))


def invoice_pdf_url(invoice_id: object) -> str:
    return url_for("invoices_api.get_invoice_pdf", invoice_id=str(invoice_id))


def _with_links(job: Mapping[str, Any], values: dict[str, Any] | None) -> dict[str, Any] | None:
    """A job's result (or its error's details) with the links to what it produced."""
    if not values:
        return values
    if job["kind"] == import_csv.name and "rows_read" in values:
        return values | {"errors_url": errors_csv_url(job["id"])}
    if job["kind"] in INVOICING_KINDS and values.get("invoice_id"):
        return values | {"pdf_url": invoice_pdf_url(values["invoice_id"])}
    return values


def _error_with_links(job: Mapping[str, Any]) -> dict[str, Any] | None:
    error: dict[str, Any] | None = job["error"]
    if error and isinstance(error.get("details"), dict):
        return error | {"details": _with_links(job, error["details"])}
    return error


def job_document(job: Mapping[str, Any], attempt_history: list[dict[str, Any]] | None = None,
                 audit: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The job of the REST contract from its columns (by name), with its history and audit when given."""
    total = job["progress_total"]
    percent = round(100.0 * job["progress_done"] / total, 1) if total else None
    body: dict[str, Any] = {
        "id": str(job["id"]),
        "kind": job["kind"],
        "state": job["state"],
        "queue": job["queue"],
        "params": job["params"],
        "progress": {"done": job["progress_done"], "total": total, "percent": percent,
                     "message": job["progress_message"]},
        "attempts": job["attempts"],
        "cancel_requested": job["cancel_requested"],
        "submitted_by": job["submitted_by"],
        "created_at": iso(job["created_at"]),
        "started_at": iso(job["started_at"]),
        "finished_at": iso(job["finished_at"]),
        "updated_at": iso(job["updated_at"]),
        "result": _with_links(job, job["result"]),
        "error": _error_with_links(job),
        "links": {"self": job_url(job["id"])},
    }
    if attempt_history is not None:
        body["attempt_history"] = attempt_history
    if audit is not None:
        body["audit"] = audit
    return body


def job_columns(job: AnyJob) -> dict[str, Any]:
    return {name: getattr(job, name) for name in JOB_COLUMNS}


def job_to_dict(
    job: AnyJob, *, attempts: list[JobAttempt] | None = None, audit_trail: list[JobAuditEntry] | None = None
) -> dict[str, Any]:
    history = None if attempts is None else [
        {"number": attempt.number, "outcome": attempt.outcome, "worker": attempt.worker, "error": attempt.error,
         "started_at": iso(attempt.started_at), "finished_at": iso(attempt.finished_at)}
        for attempt in attempts
    ]
    audit = None if audit_trail is None else [
        {"action": entry.action, "by": entry.actor, "via": entry.via, "at": iso(entry.at)} for entry in audit_trail
    ]
    return job_document(job_columns(job), history, audit)


def job_etag(job: Any) -> str:
    """Changes whenever anything a client sees changes (every write stamps updated_at).

    `job` has the attributes, or is a mapping of, id, state, updated_at, attempts and progress_done.
    """
    values = job if isinstance(job, Mapping) else {name: getattr(job, name) for name in ETAG_COLUMNS}
    material = (f"{values['id']}|{values['state']}|{values['updated_at'].astimezone(UTC).isoformat()}|"
                f"{values['attempts']}|{values['progress_done']}")
    return hashlib.sha1(material.encode()).hexdigest()[:20]


def _plain(value: Decimal) -> str:
    return format(Decimal(value).normalize(), "f")


def invoice_to_dict(invoice: Invoice, *, lines: bool = False) -> dict[str, Any]:
    currency = invoice.currency
    body: dict[str, Any] = {
        "id": str(invoice.id), "number": invoice.number, "job_id": str(invoice.job_id),
        "customer": invoice.customer, **invoice_amounts(invoice),
        "issue_date": invoice.issue_date.isoformat(), "due_date": invoice.due_date.isoformat(),
        "taxes": invoice.taxes, "notes": invoice.notes, "created_at": iso(invoice.created_at),
        "pdf_url": invoice_pdf_url(invoice.id) if invoice.pdf_path else None,
    }
    if lines:
        body["lines"] = [{"position": line.position, "description": line.description,
                          "quantity": _plain(line.quantity), "unit_price": _plain(line.unit_price),
                          "tax_rate": _plain(line.tax_rate), "amount": str(exact(line.amount, currency))}
                         for line in invoice.lines]
    return body
