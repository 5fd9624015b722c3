"""Invoices: submit one (JSON) or a batch over a period, list them, read one, download its PDF."""
from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request, send_file
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from accounts.roles import Role
from etl.codes import country_codes
from invoicing.models import Invoice
from invoicing.money import LineItem, MoneyError, minor_unit
from invoicing.pdf import Party
from invoicing.service import InvoiceRequest, exact
from jobs import idempotency
from jobs.enqueue import submit_job
from webapp.access import current_actor, current_identity, requires
from webapp.api.jobs import accepted
from webapp.api.pagination import newest_first_page, split_page
from webapp.api.requests import json_body, query_args
from webapp.errors import ApiError
from webapp.rate_limits import submit_rate_limits
from webapp.runtime import runtime
from webapp.serializers import iso

bp = Blueprint("invoices_api", __name__, url_prefix="/api/invoices")

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
IDEMPOTENCY_HEADER = "Idempotency-Key"


class CustomerBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=255)
    email: str = Field(max_length=254)
    address: str = Field("", max_length=1000)
    tax_id: str = Field("", max_length=64)
    country: str = Field("", max_length=2)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not EMAIL.match(value):
            raise ValueError("not an email address")
        return value.lower()

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        if value and value.upper() not in country_codes():
            raise ValueError("not an ISO 3166 two-letter country code")
        return value.upper()


class ItemBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    description: str = Field(min_length=1, max_length=500)
    quantity: Decimal = Field(gt=0, max_digits=15, decimal_places=3, allow_inf_nan=False)
    unit_price: Decimal = Field(ge=0, max_digits=15, decimal_places=4, allow_inf_nan=False)
    tax_rate: Decimal = Field(ge=0, le=100, decimal_places=4, allow_inf_nan=False)


def _currency(value: str) -> str:
    try:
        minor_unit(value)
    except MoneyError as error:
        raise ValueError(error.reason) from None
    return value.upper()


class InvoiceBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    customer: CustomerBody
    currency: str = Field(min_length=3, max_length=3)
    issue_date: date | None = None
    due_days: int | None = Field(None, ge=0, le=365)
    due_date: date | None = None
    items: list[ItemBody] = Field(min_length=1, max_length=1000)
    notes: str = Field("", max_length=2000)
    send_email: bool = True

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, value: str) -> str:
        return _currency(value)

    @field_validator("due_date")
    @classmethod
    def _due(cls, value: date | None, info: ValidationInfo) -> date | None:
        if value is None:
            return value
        if info.data.get("due_days") is not None:
            raise ValueError("give due_days or due_date, not both")
        issue = info.data.get("issue_date") or datetime.now(UTC).date()
        if value < issue:
            raise ValueError(f"is before the issue date {issue.isoformat()}")
        return value

    def to_request(self) -> InvoiceRequest:
        customer = self.customer
        return InvoiceRequest(
            customer=Party(name=customer.name, email=customer.email, address=customer.address,
                           tax_id=customer.tax_id, country=customer.country),
            currency=self.currency,
            items=tuple(LineItem(i.description, i.quantity, i.unit_price, i.tax_rate) for i in self.items),
            issue_date=self.issue_date, due_date=self.due_date, due_days=self.due_days, notes=self.notes,
            send_email=self.send_email,
        )


class BatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period_start: date
    period_end: date
    send_email: bool = True

    @field_validator("period_end")
    @classmethod
    def _order(cls, value: date, info: ValidationInfo) -> date:
        start = info.data.get("period_start")
        if start is not None and value < start:
            raise ValueError(f"is before period_start {start.isoformat()}")
        return value


def idempotency_key() -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > idempotency.MAX_KEY_LENGTH or not key.isprintable():
        raise ApiError(422, "invalid request", [{"field": IDEMPOTENCY_HEADER,
                                                 "reason": f"1 to {idempotency.MAX_KEY_LENGTH} printable characters"}])
    return key


def submit(kind: str, params: dict[str, Any]) -> Response:
    """Accept a job, once per Idempotency-Key when the client sends one."""
    key = idempotency_key()
    rt = runtime()
    try:
        with rt.db.transaction() as session:
            if key is None:
                job, message = submit_job(session, kind, params, actor=current_actor())
            else:
                job, message = idempotency.submit_once(session, kind, params, key=key,
                                                       owner=str(current_identity().user_id), actor=current_actor())
    except idempotency.KeyInFlight:
        raise ApiError(409, "a request with this Idempotency-Key is still being accepted; retry shortly",
                       headers={"Retry-After": "1"}) from None
    except idempotency.KeyReused:
        raise ApiError(422, "invalid request", [{"field": IDEMPOTENCY_HEADER,
                                                 "reason": "already used with a different request body"}]) from None
    if message is not None:
        rt.publisher.publish_after_commit(message)
    return accepted(job)


@bp.post("")
@requires(Role.OPERATOR)
@submit_rate_limits
def submit_invoice() -> Response:
    body = json_body(InvoiceBody)
    return submit("invoice.create", body.to_request().to_params())


@bp.post("/batch")
@requires(Role.OPERATOR)
@submit_rate_limits
def submit_batch() -> Response:
    body = json_body(BatchBody)
    return submit("invoice.batch", {"period_start": body.period_start.isoformat(),
                                    "period_end": body.period_end.isoformat(), "send_email": body.send_email})


def invoice_to_dict(invoice: Invoice, *, lines: bool = False) -> dict[str, Any]:
    currency = invoice.currency
    body: dict[str, Any] = {
        "id": str(invoice.id), "number": invoice.number, "job_id": str(invoice.job_id),
        "customer": invoice.customer, "currency": currency,
        "issue_date": invoice.issue_date.isoformat(), "due_date": invoice.due_date.isoformat(),
        "subtotal": str(exact(invoice.subtotal, currency)), "tax_total": str(exact(invoice.tax_total, currency)),
        "total": str(exact(invoice.total, currency)), "taxes": invoice.taxes, "notes": invoice.notes,
        "created_at": iso(invoice.created_at),
        "pdf_url": f"/api/invoices/{invoice.id}/pdf" if invoice.pdf_path else None,
    }
    if lines:
        body["lines"] = [{"position": line.position, "description": line.description,
                          "quantity": format(Decimal(line.quantity).normalize(), "f"),
                          "unit_price": format(Decimal(line.unit_price).normalize(), "f"),
                          "tax_rate": format(Decimal(line.tax_rate).normalize(), "f"),
                          "amount": str(exact(line.amount, currency))} for line in invoice.lines]
    return body


class InvoiceListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer: str | None = Field(None, max_length=254)
    date_from: date | None = None
    date_to: date | None = None
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = None


def find_invoices(query: InvoiceListQuery) -> tuple[list[Invoice], str | None]:
    """One page of invoices, newest first, and the cursor of the next page (None on the last)."""
    statement = newest_first_page(select(Invoice), Invoice.created_at, Invoice.id, query.limit, query.cursor)
    if query.customer:
        statement = statement.where(func.lower(Invoice.customer_email).contains(query.customer.lower(),
                                                                                autoescape=True))
    if query.date_from:
        statement = statement.where(Invoice.issue_date >= query.date_from)
    if query.date_to:
        statement = statement.where(Invoice.issue_date <= query.date_to)
    with runtime().db.read_session() as session:
        return split_page(list(session.scalars(statement)), query.limit)


@bp.get("")
def list_invoices() -> Response:
    page, next_cursor = find_invoices(query_args(InvoiceListQuery))
    return jsonify({"items": [invoice_to_dict(i) for i in page], "next_cursor": next_cursor})


def invoice_or_404(raw_id: str) -> Invoice:
    try:
        invoice_id = uuid.UUID(raw_id)
    except ValueError:
        raise ApiError(404, f"no invoice with id {raw_id!r}") from None
    with runtime().db.read_session() as session:
        invoice = session.scalar(select(Invoice).options(selectinload(Invoice.lines)).where(Invoice.id == invoice_id))
    if invoice is None:
        raise ApiError(404, f"no invoice with id {raw_id!r}")
    return invoice


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

