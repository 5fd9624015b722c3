"""Invoice tasks: single invoices (`invoices`), batch parents (`invoices`), batch children (`invoices.bulk`),
and invoice emails (`notifications`)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from config.settings import Settings
from invoicing.batch import invoice_customer_orders, run_batch
from invoicing.mail import SmtpOptions
from invoicing.pdf import Party
from invoicing.service import InvoicingOptions, email_invoice, issue_invoice
from jobs.context import JobContext
from tasks.base import job_task
from tasks.runtime import worker_settings


def invoicing_options(settings: Settings) -> InvoicingOptions:
    return InvoicingOptions(
        seller=Party(name=settings.seller_name, address=settings.seller_address.replace("\\n", "\n"),
                     email=settings.seller_email,
                     tax_id=settings.seller_tax_id, country=settings.seller_country),
        invoice_dir=settings.invoice_dir, due_days=settings.invoice_due_days,
        batch_tax_rate=Decimal(str(settings.invoice_batch_tax_rate_pct)),
    )


def smtp_options(settings: Settings) -> SmtpOptions | None:
    if not settings.smtp_host:
        return None
    return SmtpOptions(host=settings.smtp_host, port=settings.smtp_port, username=settings.smtp_username,
                       password=settings.smtp_password, starttls=settings.smtp_starttls,
                       timeout_s=settings.smtp_timeout_s)


def create_invoice(ctx: JobContext) -> dict[str, Any]:
    """Number, store and render one invoice; start its email."""
    return issue_invoice(ctx, invoicing_options(worker_settings()))


def batch_invoices(ctx: JobContext) -> dict[str, Any]:
    """Start one child job per customer with uninvoiced orders in the period."""
    return run_batch(ctx, invoicing_options(worker_settings()))


def invoice_customer(ctx: JobContext) -> dict[str, Any]:
    """Invoice one customer's uninvoiced orders of the period."""
    return invoice_customer_orders(ctx, invoicing_options(worker_settings()))


def send_invoice_email(ctx: JobContext) -> dict[str, Any]:
    """Email an invoice's PDF to its customer."""
    settings = worker_settings()
    return email_invoice(ctx, invoicing_options(settings), smtp_options(settings), settings.mail_from,
                         settings.mail_dir)


create_task = job_task("invoice.create")(create_invoice)
batch_task = job_task("invoice.batch")(batch_invoices)
customer_task = job_task("invoice.customer_batch")(invoice_customer)
email_task = job_task("invoice.email")(send_invoice_email)
