"""Storing invoices: one per job with the year's next number, found again by a redelivered job."""
from __future__ import annotations

import uuid
from datetime import date
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session, selectinload

from invoicing.models import Invoice, InvoiceLine
from invoicing.money import compute_totals
from invoicing.numbering import next_number
from invoicing.options import InvoicingOptions
from invoicing.request import InvoiceRequest
from jobs.db import utcnow

INVOICES = cast(Table, Invoice.__table__)
LINES = cast(Table, InvoiceLine.__table__)


class InvoiceRefused(ValueError):
    """An invoice the series' rules forbid; `field` names the input."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


def series_order_problem(session: Session, issue: date) -> str | None:
    """Why an invoice dated `issue` would break its series' order, or None: a series' invoices are dated
    in the order of their numbers (correlative numbers and dates, as Spanish invoicing rules require)."""
    later = session.execute(
        select(INVOICES.c.number, INVOICES.c.issue_date)
        .where(INVOICES.c.issue_date > issue, INVOICES.c.issue_date <= date(issue.year, 12, 31))
        .order_by(INVOICES.c.issue_date.desc()).limit(1)
    ).first()
    if later is None:
        return None
    return (f"{issue.isoformat()} is before {later.issue_date.isoformat()}, the date of {later.number}; "
            f"the {issue.year} series is dated in the order of its numbers")


def check_series_order(session: Session, issue: date) -> None:
    """None may be dated before the last one issued in its year. Called after next_number, whose counter
    row lock makes the check and the insert one step (the web's check before the job is a courtesy)."""
    problem = series_order_problem(session, issue)
    if problem is not None:
        raise InvoiceRefused("issue_date", problem)


def invoice_for_job(session: Session, job_id: uuid.UUID) -> Invoice | None:
    return session.scalar(select(Invoice).options(selectinload(Invoice.lines)).where(Invoice.job_id == job_id))


def store_invoice(session: Session, job_id: uuid.UUID, request: InvoiceRequest, options: InvoicingOptions) -> Invoice:
    """The job's invoice, created with the year's next number (the caller found none for the job with
    invoice_for_job: an earlier attempt's invoice is the job's, never a second one)."""
    totals = compute_totals(request.currency, list(request.items))
    issue, due = request.dates(utcnow().date(), options.due_days)
    number = next_number(session, issue.year)  # the number of the year of the invoice's date
    check_series_order(session, issue)
    values: dict[str, Any] = {
        "id": uuid.uuid4(), "number": number, "job_id": job_id,
        "customer": request.customer.to_dict(), "customer_email": request.customer.email.lower(),
        "currency": totals.currency, "issue_date": issue, "due_date": due, "notes": request.notes or None,
        "subtotal": totals.subtotal, "tax_total": totals.tax_total, "total": totals.total,
        "taxes": [{"rate": str(t.rate), "base": str(t.base), "tax": str(t.tax)} for t in totals.taxes],
        "pdf_path": None, "created_at": utcnow(),
    }
    lines = [
        {"invoice_id": values["id"], "position": index, "description": item.description, "quantity": item.quantity,
         "unit_price": item.unit_price, "tax_rate": item.tax_rate, "amount": amount}
        for index, (item, amount) in enumerate(zip(request.items, totals.line_amounts, strict=True), start=1)
    ]
    # SQLAlchemy Core, not the unit of work: an invoice and its lines are two statements.
    connection = session.connection()
    connection.execute(insert(INVOICES), values)
    connection.execute(insert(LINES), lines)
    invoice = Invoice(**values)  # what was written, as a value (not an object of the session)
    invoice.lines = [InvoiceLine(**line) for line in lines]
    return invoice


def record_pdf(session: Session, invoice_id: uuid.UUID, path: str) -> None:
    session.connection().execute(update(INVOICES).where(INVOICES.c.id == invoice_id).values(pdf_path=path))
