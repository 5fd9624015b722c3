"""Storing invoices: one per job with the year's next number, found again by a redelivered job."""
from __future__ import annotations

import uuid
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


def invoice_for_job(session: Session, job_id: uuid.UUID) -> Invoice | None:
    return session.scalar(select(Invoice).options(selectinload(Invoice.lines)).where(Invoice.job_id == job_id))


def store_invoice(session: Session, job_id: uuid.UUID, request: InvoiceRequest, options: InvoicingOptions) -> Invoice:
    """The job's invoice, created with the year's next number (the caller found none for the job with
    invoice_for_job: an earlier attempt's invoice is the job's, never a second one)."""
    totals = compute_totals(request.currency, list(request.items))
    issue, due = request.dates(utcnow().date(), options.due_days)
    values: dict[str, Any] = {
        "id": uuid.uuid4(), "number": next_number(session, issue.year), "job_id": job_id,
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
