"""The `invoice.email` job: email an invoice's PDF to its customer (queue `notifications`).

Started by the notification subscriber when billing publishes `invoice.issued`
(notifications/subscriber.py); it ends with `invoice.emailed`, or `invoice.email_failed` when it
fails for good (a 5xx, or 4xx answers past its retries).
"""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from invoicing.amounts import exact
from invoicing.document import invoice_pdf
from invoicing.files import pdf_path
from invoicing.models import Invoice
from invoicing.options import InvoicingOptions
from jobs.context import JobContext
from jobs.events import event_type
from jobs.kinds import job_kind
from jobs.topology import NOTIFICATIONS
from notifications.mail import SmtpOptions, compose_invoice_email, deliver

INVOICE_EMAILED = event_type("invoice.emailed", "An invoice's PDF was handed to the mail server for its customer "
                             "(or written as an .eml file when no SMTP host is set).",
                             ("invoice_id", "number", "to", "delivery", "job_id"))
INVOICE_EMAIL_FAILED = event_type("invoice.email_failed", "An invoice's email failed for good: the mail server "
                                  "refused it (5xx) or kept deferring it past its retries.",
                                  ("invoice_id", "to", "job_id", "error"))


@job_kind("invoice.email", queue=NOTIFICATIONS, failure_event=INVOICE_EMAIL_FAILED)
def email_invoice(ctx: JobContext) -> dict[str, Any]:
    """Email an invoice's PDF to its customer."""
    settings = ctx.settings
    options = InvoicingOptions.from_settings(settings)
    with ctx.db.read_session() as session:
        invoice = session.scalar(select(Invoice).options(selectinload(Invoice.lines))
                                 .where(Invoice.id == uuid.UUID(ctx.params["invoice_id"])))
    if invoice is None:
        raise LookupError(f"no invoice {ctx.params['invoice_id']}")
    path = Path(invoice.pdf_path) if invoice.pdf_path else pdf_path(options.invoice_dir, invoice)
    pdf = path.read_bytes() if path.exists() else invoice_pdf(invoice, options.seller)
    message = compose_invoice_email(
        number=invoice.number, total=str(exact(invoice.total, invoice.currency)), currency=invoice.currency,
        due_date=invoice.due_date.isoformat(), recipient=invoice.customer_email, sender=settings.mail_from,
        seller_name=options.seller.name, pdf=pdf)
    where = deliver(message, SmtpOptions.from_settings(settings), settings.mail_dir, f"{invoice.number}-{ctx.job_id}")
    result = {"invoice_id": str(invoice.id), "number": invoice.number, "to": invoice.customer_email, "delivery": where}
    with ctx.transaction() as session:
        ctx.emit(session, INVOICE_EMAILED, f"invoices/{invoice.id}", {**result, "job_id": str(ctx.job_id)})
        return ctx.complete(session, result)
