"""Issuing invoices: store one per job with its number (idempotent), render its PDF, hand it to email.

The invoice row, its lines and its number are written in one transaction keyed by the job id
(unique), so a redelivered job finds its invoice instead of making a second one. The PDF is
rendered after that commit and written atomically; a redelivery that finds the row but no PDF just
renders it. The email is a job of its own on the `notifications` queue, started once per invoice.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from invoicing.mail import SmtpOptions, compose_invoice_email, deliver
from invoicing.models import Invoice, InvoiceLine
from invoicing.money import LineItem, compute_totals, round_money
from invoicing.numbering import next_number
from invoicing.pdf import InvoiceDocument, Party, PdfLine, render_invoice_pdf, write_atomically
from jobs import lifecycle
from jobs.context import JobCancelled, JobContext
from jobs.db import utcnow
from jobs.enqueue import submit_job
from jobs.models import Job, OutboxMessage

EMAIL_KIND = "invoice.email"


@dataclass(frozen=True)
class InvoicingOptions:
    """What the invoicing jobs need from the settings."""

    seller: Party
    invoice_dir: Path
    due_days: int
    batch_tax_rate: Decimal = Decimal(0)


@dataclass(frozen=True)
class InvoiceRequest:
    """One invoice to issue, validated (by the API or the form) and stored as the job's params."""

    customer: Party
    currency: str
    items: tuple[LineItem, ...]
    issue_date: date | None = None
    due_date: date | None = None
    due_days: int | None = None
    notes: str = ""
    send_email: bool = True
    order_keys: tuple[tuple[int, str], ...] = field(default=())  # orders billed (batch invoices)

    def to_params(self) -> dict[str, Any]:
        return {
            "customer": {"name": self.customer.name, "email": self.customer.email, "address": self.customer.address,
                         "tax_id": self.customer.tax_id, "country": self.customer.country},
            "currency": self.currency,
            "items": [{"description": i.description, "quantity": str(i.quantity), "unit_price": str(i.unit_price),
                       "tax_rate": str(i.tax_rate)} for i in self.items],
            "issue_date": self.issue_date.isoformat() if self.issue_date else None,
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "due_days": self.due_days,
            "notes": self.notes,
            "send_email": self.send_email,
        }

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> InvoiceRequest:
        customer = params["customer"]
        return cls(
            customer=Party(name=customer["name"], email=customer.get("email") or "", address=customer.get("address") or "",
                           tax_id=customer.get("tax_id") or "", country=customer.get("country") or ""),
            currency=params["currency"],
            items=tuple(LineItem(i["description"], Decimal(i["quantity"]), Decimal(i["unit_price"]),
                                 Decimal(i["tax_rate"])) for i in params["items"]),
            issue_date=date.fromisoformat(params["issue_date"]) if params.get("issue_date") else None,
            due_date=date.fromisoformat(params["due_date"]) if params.get("due_date") else None,
            due_days=params.get("due_days"),
            notes=params.get("notes") or "",
            send_email=bool(params.get("send_email", True)),
        )

    def dates(self, today: date, default_due_days: int) -> tuple[date, date]:
        issue = self.issue_date or today
        if self.due_date is not None:
            return issue, self.due_date
        return issue, issue + timedelta(days=self.due_days if self.due_days is not None else default_due_days)


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
        customer={"name": request.customer.name, "email": request.customer.email,
                  "address": request.customer.address, "tax_id": request.customer.tax_id,
                  "country": request.customer.country},
        customer_email=request.customer.email.lower(), currency=totals.currency, issue_date=issue, due_date=due,
        notes=request.notes or None, subtotal=totals.subtotal, tax_total=totals.tax_total, total=totals.total,
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


def exact(value: Decimal, currency: str) -> Decimal:
    """A stored amount back at its currency's precision (NUMERIC(18, 4) columns give 4 places)."""
    return round_money(Decimal(value), currency)


def invoice_document(invoice: Invoice, seller: Party) -> InvoiceDocument:
    currency = invoice.currency
    customer = invoice.customer
    return InvoiceDocument(
        number=invoice.number, seller=seller,
        buyer=Party(name=customer["name"], address=customer.get("address") or "", email=customer.get("email") or "",
                    tax_id=customer.get("tax_id") or "", country=customer.get("country") or ""),
        currency=currency, issue_date=invoice.issue_date, due_date=invoice.due_date,
        lines=tuple(PdfLine(line.description, Decimal(line.quantity).normalize(),
                            Decimal(line.unit_price).normalize(), Decimal(line.tax_rate).normalize(),
                            exact(line.amount, currency)) for line in invoice.lines),
        taxes=tuple((Decimal(t["rate"]), Decimal(t["base"]), Decimal(t["tax"])) for t in invoice.taxes),
        subtotal=exact(invoice.subtotal, currency), tax_total=exact(invoice.tax_total, currency),
        total=exact(invoice.total, currency), notes=invoice.notes or "",
    )


def pdf_path(invoice_dir: Path, invoice: Invoice) -> Path:
    return invoice_dir / str(invoice.issue_date.year) / f"{invoice.number}.pdf"


def invoice_result(invoice: Invoice) -> dict[str, Any]:
    """The job's result: the invoice's id, number and amounts as decimal strings."""
    currency = invoice.currency
    return {"invoice_id": str(invoice.id), "number": invoice.number, "currency": currency,
            "subtotal": str(exact(invoice.subtotal, currency)), "tax_total": str(exact(invoice.tax_total, currency)),
            "total": str(exact(invoice.total, currency)), "pdf_url": f"/api/invoices/{invoice.id}/pdf"}


def start_email(session: Session, invoice: Invoice) -> OutboxMessage | None:
    """The invoice's email job, started once per invoice (the idempotency key says which invoice)."""
    key = f"invoice:{invoice.id}"
    if session.scalar(select(Job.id).where(Job.kind == EMAIL_KIND, Job.idempotency_key == key)) is not None:
        return None
    _email_job, message = submit_job(session, EMAIL_KIND, {"invoice_id": str(invoice.id), "to": invoice.customer_email},
                                     idempotency_key=key)
    return message


def render_pdf(invoice: Invoice, options: InvoicingOptions) -> Path:
    """Render and write the invoice's PDF (again, if an earlier attempt died before finishing it)."""
    path = pdf_path(options.invoice_dir, invoice)
    write_atomically(path, render_invoice_pdf(invoice_document(invoice, options.seller)))
    return path


def issue_invoice(ctx: JobContext, options: InvoicingOptions) -> dict[str, Any]:
    """The `invoice.create` job: number and store the invoice, render its PDF, start its email."""
    request = InvoiceRequest.from_params(ctx.params)
    with ctx.db.transaction() as session:
        if lifecycle.record_progress(session, ctx.job_id, ctx.attempt, 0, 3, "numbering the invoice"):
            if invoice_for_job(session, ctx.job_id) is None:
                raise JobCancelled("cancelled before the invoice was numbered; no invoice was issued")
        invoice = store_invoice(session, ctx.job_id, request, options)
        # Once numbered, an invoice is issued: a later cancel request no longer stops the job.
        lifecycle.record_progress(session, ctx.job_id, ctx.attempt, 1, 3, f"rendering the PDF of {invoice.number}")
    finish_invoice(ctx, invoice, options, send_email=request.send_email, step=(2, 3))
    return invoice_result(invoice)


def finish_invoice(ctx: JobContext, invoice: Invoice, options: InvoicingOptions, *, send_email: bool,
                   step: tuple[int, int]) -> None:
    """Render the stored invoice's PDF, record where it is, and start its email (once)."""
    path = render_pdf(invoice, options)
    with ctx.db.transaction() as session:
        stored = session.get(Invoice, invoice.id)
        assert stored is not None
        stored.pdf_path = str(path)
        message = start_email(session, stored) if send_email and invoice.customer_email else None
        lifecycle.record_progress(session, ctx.job_id, ctx.attempt, *step,
                                  "PDF ready; emailing it" if message else "PDF ready")
    if message is not None:
        ctx.publish([message])


def email_invoice(ctx: JobContext, options: InvoicingOptions, smtp: SmtpOptions | None, sender: str,
                  mail_dir: Path) -> dict[str, Any]:
    """The `invoice.email` job: email the invoice's PDF to its customer."""
    with ctx.db.read_session() as session:
        invoice = session.scalar(select(Invoice).options(selectinload(Invoice.lines))
                                 .where(Invoice.id == uuid.UUID(ctx.params["invoice_id"])))
    if invoice is None:
        raise LookupError(f"no invoice {ctx.params['invoice_id']}")
    path = Path(invoice.pdf_path) if invoice.pdf_path else pdf_path(options.invoice_dir, invoice)
    pdf = path.read_bytes() if path.exists() else render_invoice_pdf(invoice_document(invoice, options.seller))
    message = compose_invoice_email(
        number=invoice.number, total=str(exact(invoice.total, invoice.currency)), currency=invoice.currency,
        due_date=invoice.due_date.isoformat(), recipient=invoice.customer_email, sender=sender,
        seller_name=options.seller.name, pdf=pdf)
    where = deliver(message, smtp, mail_dir, f"{invoice.number}-{ctx.job_id}")
    return {"invoice_id": str(invoice.id), "number": invoice.number, "to": invoice.customer_email, "delivery": where}
