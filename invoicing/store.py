"""Storing invoices: one per job with the year's next number, found again by a redelivered job."""
from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from invoicing.models import Invoice, InvoiceLine
from invoicing.money import compute_totals
from invoicing.numbering import next_number
from invoicing.options import InvoicingOptions
from invoicing.request import InvoiceRequest
from jobs.db import utcnow


def invoice_for_job(session: Session, job_id: uuid.UUID) -> Invoice | None:
    return session.scalar(select(Invoice).options(selectinload(Invoice.lines)).where(Invoice.job_id == job_id))


def store_invoice(session: Session, job_id: uuid.UUID, request: InvoiceRequest, options: InvoicingOptions) -> Invoice:
    """The job's invoice: created with the year's next number, or the one an earlier attempt created."""
    existing = invoice_for_job(session, job_id)
    if existing is not None:
        return existing
    totals = compute_totals(request.currency, list(request.items))
    issue, due = request.dates(utcnow().date(), options.due_days)
    invoice = Invoice(
        id=uuid.uuid4(), number=next_number(session, issue.year), job_id=job_id,
        customer=request.customer.to_dict(), customer_email=request.customer.email.lower(),
        currency=totals.currency, issue_date=issue, due_date=due, notes=request.notes or None,
        subtotal=totals.subtotal, tax_total=totals.tax_total, total=totals.total,
        taxes=[{"rate": str(t.rate), "base": str(t.base), "tax": str(t.tax)} for t in totals.taxes],
        created_at=utcnow(),
    )
    invoice.lines = [
        InvoiceLine(position=index, description=item.description, quantity=item.quantity,
                    unit_price=item.unit_price, tax_rate=item.tax_rate, amount=amount)
        for index, (item, amount) in enumerate(zip(request.items, totals.line_amounts, strict=True), start=1)
    ]
    session.add(invoice)
    session.flush()
    return invoice
