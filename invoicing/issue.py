"""The `invoice.create` job: number and store one invoice, render its PDF, start its email.

The invoice row, its lines and its number are written in one transaction keyed by the job id
(unique), so a redelivered job finds its invoice instead of making a second one. The PDF is
rendered after that commit and written atomically; a redelivery that finds the row but no PDF just
renders it. The email is a job of its own on the `notifications` queue, started once per invoice.
"""
from __future__ import annotations

from typing import Any

from invoicing.amounts import invoice_amounts
from invoicing.document import write_invoice_pdf
from invoicing.models import Invoice
from invoicing.notify import email_invoice
from invoicing.options import InvoicingOptions
from invoicing.request import InvoiceRequest
from invoicing.store import invoice_for_job, store_invoice
from jobs.context import JobCancelled, JobContext
from jobs.kinds import job_kind
from jobs.topology import INVOICES


def invoice_result(invoice: Invoice) -> dict[str, Any]:
    """The job's result: the invoice's id, number and amounts as decimal strings."""
    return {"invoice_id": str(invoice.id), "number": invoice.number, **invoice_amounts(invoice)}


@job_kind("invoice.create", queue=INVOICES)
def issue_invoice(ctx: JobContext) -> dict[str, Any]:
    """Number, store and render one invoice; start its email."""
    options = InvoicingOptions.from_settings(ctx.settings)
    request = InvoiceRequest.from_dict(ctx.params)
    with ctx.transaction() as session:
        numbered = invoice_for_job(session, ctx.job_id) is not None
        if ctx.checkpoint(0, 3, "numbering the invoice", session=session) and not numbered:
            raise JobCancelled("cancelled before the invoice was numbered; no invoice was issued")
        invoice = store_invoice(session, ctx.job_id, request, options)
        # Once numbered, an invoice is issued: a later cancel request no longer stops the job.
        ctx.checkpoint(1, 3, f"rendering the PDF of {invoice.number}", session=session)
    finish_invoice(ctx, invoice, options, send_email=request.send_email, step=(2, 3))
    return invoice_result(invoice)


def finish_invoice(ctx: JobContext, invoice: Invoice, options: InvoicingOptions, *, send_email: bool,
                   step: tuple[int, int]) -> None:
    """Render the stored invoice's PDF, record where it is, and start its email (once per invoice)."""
    path = write_invoice_pdf(invoice, options.invoice_dir, options.seller)
    with ctx.transaction() as session:
        stored = session.get(Invoice, invoice.id)
        assert stored is not None
        stored.pdf_path = str(path)
        emailing = send_email and bool(invoice.customer_email)
        if emailing:
            ctx.submit_once(session, email_invoice, {"invoice_id": str(invoice.id), "to": invoice.customer_email},
                            key=f"invoice:{invoice.id}")
        ctx.checkpoint(*step, "PDF ready; emailing it" if emailing else "PDF ready", session=session)
