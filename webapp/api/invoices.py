"""Invoices: submit one (JSON) or a batch over a period, list them, read one, download its PDF."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, jsonify, send_file

from accounts.roles import Role
from invoicing.batch import run_batch
from invoicing.issue import issue_invoice
from invoicing.store import series_order_problem
from webapp.access import requires
from webapp.api.jobs import accepted
from webapp.api.requests import json_body, query_args
from webapp.errors import ApiError
from webapp.queries import find_invoices, invoice_or_404
from webapp.rate_limits import submit_rate_limits
from webapp.runtime import runtime
from webapp.schemas.invoices import BatchBody, InvoiceBody, InvoiceListQuery
from webapp.serializers import invoice_to_dict
from webapp.submit import submit

bp = Blueprint("invoices_api", __name__, url_prefix="/api/invoices")


@bp.post("")
@requires(Role.OPERATOR)
@submit_rate_limits
def submit_invoice() -> Response:
    body = json_body(InvoiceBody)
    problem = issue_date_problem(body)
    if problem is not None:
        raise ApiError(422, "invalid request", [{"field": "issue_date", "reason": problem}])
    job, _new = submit(issue_invoice, body.to_request().to_dict())
    return accepted(job)


def issue_date_problem(body: InvoiceBody) -> str | None:
    """An issue date before the last invoice of its series, told at once (the job checks it again)."""
    if body.issue_date is None:
        return None
    with runtime().db.read_session() as session:
        return series_order_problem(session, body.issue_date)


@bp.post("/batch")
@requires(Role.OPERATOR)
@submit_rate_limits
def submit_batch() -> Response:
    body = json_body(BatchBody)
    job, _new = submit(run_batch, {"period_start": body.period_start.isoformat(),
                                   "period_end": body.period_end.isoformat(), "send_email": body.send_email})
    return accepted(job)


@bp.get("")
def list_invoices() -> Response:
    page, next_cursor = find_invoices(query_args(InvoiceListQuery))
    return jsonify({"items": [invoice_to_dict(i) for i in page], "next_cursor": next_cursor})


@bp.get("/<invoice_id>")
def get_invoice(invoice_id: str) -> Response:
    return jsonify(invoice_to_dict(invoice_or_404(invoice_id), lines=True))


@bp.get("/<invoice_id>/pdf")
def get_invoice_pdf(invoice_id: str) -> Response:
    invoice = invoice_or_404(invoice_id)
    if not invoice.pdf_path or not Path(invoice.pdf_path).exists():
        raise ApiError(404, f"the PDF of {invoice.number} is not ready yet", headers={"Retry-After": "2"})
    return send_file(invoice.pdf_path, mimetype="application/pdf", as_attachment=True,
                     download_name=f"{invoice.number}.pdf", max_age=0)
