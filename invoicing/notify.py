"""The `invoice.email` job: email an invoice's PDF to its customer (queue `notifications`)."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from invoicing.amounts import exact
from invoicing.document import invoice_pdf
from invoicing.files import pdf_path
from invoicing.mail import SmtpOptions, compose_invoice_email, deliver
from invoicing.models import Invoice
from invoicing.options import InvoicingOptions
from jobs.context import JobContext
from jobs.kinds import job_kind
from jobs.topology import NOTIFICATIONS


@job_kind("invoice.email", queue=NOTIFICATIONS)
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
    return {"invoice_id": str(invoice.id), "number": invoice.number, "to": invoice.customer_email, "delivery": where}
