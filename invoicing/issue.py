"""The `invoice.create` job: number and store one invoice, render its PDF, publish `invoice.issued`.

The invoice row, its lines and its number are written in one transaction keyed by the job id
(unique), so a redelivered job finds its invoice instead of making a second one. The PDF is
rendered after that commit and written atomically; a redelivery that finds the row but no PDF just
renders it. Billing then says what happened and nothing more: `invoice.issued` goes out with the
job's end, and whoever cares subscribes (the notification service emails it; notifications/).
"""
from __future__ import annotations

from typing import Any

from invoicing.amounts import exact, invoice_amounts
from invoicing.document import write_invoice_pdf
from invoicing.models import Invoice
from invoicing.options import InvoicingOptions
from invoicing.request import InvoiceRequest
from invoicing.store import invoice_for_job, record_pdf, store_invoice
from jobs.context import JobCancelled, JobContext
from jobs.events import event_type
from jobs.kinds import job_kind
from jobs.topology import INVOICES

INVOICE_ISSUED = event_type(
    "invoice.issued", "An invoice was numbered and its PDF stored; `deliver_by_email` says whether its customer "
    "is to get it by email.",
    ("invoice_id", "number", "customer_name", "customer_email", "currency", "total", "issue_date", "due_date",
     "pdf", "deliver_by_email", "job_id"))


def invoice_result(invoice: Invoice) -> dict[str, Any]:
    """The job's result: the invoice's id, number and amounts as decimal strings."""
    return {"invoice_id": str(invoice.id), "number": invoice.number, **invoice_amounts(invoice)}


@job_kind("invoice.create", queue=INVOICES)
def issue_invoice(ctx: JobContext) -> dict[str, Any]:
    """Number, store and render one invoice; start its email."""
    options = InvoicingOptions.from_settings(ctx.settings)
    request = InvoiceRequest.from_dict(ctx.params)
    with ctx.transaction() as session:
        invoice = invoice_for_job(session, ctx.job_id)  # an earlier attempt's
        if ctx.checkpoint(0, 1, "numbering the invoice", session=session) and invoice is None:
            raise JobCancelled("cancelled before the invoice was numbered; no invoice was issued")
        if invoice is None:
            invoice = store_invoice(session, ctx.job_id, request, options)
    # Once numbered, an invoice is issued: a later cancel request no longer stops the job.
    return finish_invoice(ctx, invoice, options, send_email=request.send_email, result=invoice_result(invoice))


def finish_invoice(ctx: JobContext, invoice: Invoice, options: InvoicingOptions, *, send_email: bool,
                   result: dict[str, Any]) -> dict[str, Any]:
    """Render the stored invoice's PDF, then in one transaction record where it is, write `invoice.issued`
    and end the job with `result`: a succeeded job always has its PDF on disk, and its event goes out once.

    The job's steps take milliseconds, so there is no checkpoint between them (each would be one more
    statement); the job's progress goes from its first checkpoint to its total at the end.
    """
    path = write_invoice_pdf(invoice, options.invoice_dir, options.seller)
    with ctx.transaction() as session:
        record_pdf(session, invoice.id, str(path))
        emailing = send_email and bool(invoice.customer_email)
        ctx.emit(session, INVOICE_ISSUED, f"invoices/{invoice.id}", {
            "invoice_id": str(invoice.id), "number": invoice.number, "customer_name": invoice.customer.get("name"),
            "customer_email": invoice.customer_email, "currency": invoice.currency,
            "total": str(exact(invoice.total, invoice.currency)), "issue_date": invoice.issue_date.isoformat(),
            "due_date": invoice.due_date.isoformat(), "pdf": f"/api/invoices/{invoice.id}/pdf",
            "deliver_by_email": emailing, "job_id": str(ctx.job_id)})
        return ctx.complete(session, result, "PDF ready; emailing it" if emailing else "PDF ready")
