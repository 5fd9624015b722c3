"""Batch invoicing: every uninvoiced order of a period, one child job per customer and currency.

The parent job finds who has uninvoiced orders and starts their child jobs (on `invoices.bulk`, so
single invoices on `invoices` never wait behind a batch); it stays `running` until the last child
finishes (jobs.lifecycle counts them). A child locks its customer's uninvoiced orders, bills them
in one invoice and links them to it in the same transaction, so no order is ever billed twice, even
by two batches over overlapping periods; a batch run again finds nothing left to bill.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Uuid, bindparam, select, text
from sqlalchemy.orm import Session

from invoicing.models import Customer, Invoice
from invoicing.money import LineItem
from invoicing.pdf import Party
from invoicing.service import InvoiceRequest, InvoicingOptions, finish_invoice, invoice_for_job, invoice_result, store_invoice
from jobs import lifecycle
from jobs.audit import Actor
from jobs.context import JobContext, WaitForChildren
from jobs.enqueue import submit_job
from jobs.models import Job

CHILD_KIND = "invoice.customer_batch"
UNINVOICED_IN_PERIOD = "invoice_id IS NULL AND order_date >= :start AND order_date <= :end"


def _period(params: dict[str, Any]) -> tuple[date, date]:
    return date.fromisoformat(params["period_start"]), date.fromisoformat(params["period_end"])


def run_batch(ctx: JobContext, options: InvoicingOptions) -> dict[str, Any]:
    """The `invoice.batch` parent job."""
    start, end = _period(ctx.params)
    with ctx.db.transaction() as session:
        lifecycle.record_progress(session, ctx.job_id, ctx.attempt, 0, None, "finding uninvoiced orders")
        if session.scalar(select(Job.id).where(Job.parent_id == ctx.job_id).limit(1)) is not None:
            raise WaitForChildren()  # a redelivery: the children were started by an earlier attempt
        groups = session.execute(text(
            f"SELECT DISTINCT customer_email, currency FROM orders WHERE {UNINVOICED_IN_PERIOD} "
            "ORDER BY customer_email, currency"), {"start": start.isoformat(), "end": end.isoformat()}).all()
        if not groups:
            return {"invoices": 0, "children": [], "failed": []}
        parent = session.get(Job, ctx.job_id)
        assert parent is not None
        actor = Actor(parent.submitted_by, "batch") if parent.submitted_by else None
        messages = [
            submit_job(session, CHILD_KIND, {"customer_email": email, "currency": currency,
                                             "period_start": start.isoformat(), "period_end": end.isoformat(),
                                             "send_email": bool(ctx.params.get("send_email", True))},
                       actor=actor, parent_id=ctx.job_id)[1]
            for email, currency in groups
        ]
        parent.progress_total, parent.progress_done = len(messages), 0
        parent.progress_message = f"0 of {len(messages)} child jobs finished"
    ctx.publish(messages)
    raise WaitForChildren()


def _customer(session: Session, email: str) -> Party:
    """Who is billed: the `customers` row with this email, or just the email when there is none."""
    customer = session.scalar(select(Customer).where(Customer.email == email).order_by(Customer.customer_id).limit(1))
    if customer is None:
        return Party(name=email, email=email)
    return Party(name=customer.name, email=email, country=customer.country, tax_id=customer.tax_id or "",
                 address=customer.address or "")


def _lock_orders(session: Session, email: str, currency: str, start: date, end: date) -> list[Any]:
    locking = " FOR UPDATE" if session.get_bind().dialect.name == "postgresql" else ""
    return list(session.execute(text(
        "SELECT order_id, sku, order_date, quantity, unit_price FROM orders "
        f"WHERE customer_email = :email AND currency = :currency AND {UNINVOICED_IN_PERIOD} "
        f"ORDER BY order_date, order_id, sku{locking}"),
        {"email": email, "currency": currency, "start": start.isoformat(), "end": end.isoformat()}).all())


def _link_orders(session: Session, invoice: Invoice, orders: list[Any]) -> None:
    statement = text("UPDATE orders SET invoice_id = :invoice WHERE order_id = :order_id AND sku = :sku") \
        .bindparams(bindparam("invoice", type_=Uuid))
    session.execute(statement, [{"invoice": invoice.id, "order_id": order.order_id, "sku": order.sku}
                                for order in orders])


def invoice_customer_orders(ctx: JobContext, options: InvoicingOptions) -> dict[str, Any]:
    """An `invoice.customer_batch` child job: one invoice for a customer's uninvoiced orders in one currency."""
    start, end = _period(ctx.params)
    email, currency = ctx.params["customer_email"], ctx.params["currency"]
    with ctx.db.transaction() as session:
        lifecycle.record_progress(session, ctx.job_id, ctx.attempt, 0, 2, f"billing the orders of {email}")
        invoice = invoice_for_job(session, ctx.job_id)
        if invoice is None:
            orders = _lock_orders(session, email, currency, start, end)
            if not orders:
                return {"invoices": 0, "note": "no uninvoiced orders left (billed by another batch)"}
            items = tuple(LineItem(f"Order {order.order_id}, {order.sku} ({order.order_date})",
                                   Decimal(order.quantity), Decimal(str(order.unit_price)).normalize(),
                                   options.batch_tax_rate) for order in orders)
            request = InvoiceRequest(customer=_customer(session, email), currency=currency, items=items,
                                     notes=f"Orders from {start.isoformat()} to {end.isoformat()}")
            invoice = store_invoice(session, ctx.job_id, request, options)
            _link_orders(session, invoice, orders)
        lifecycle.record_progress(session, ctx.job_id, ctx.attempt, 1, 2, f"rendering the PDF of {invoice.number}")
    finish_invoice(ctx, invoice, options, send_email=bool(ctx.params.get("send_email", True)), step=(2, 2))
    return {"invoices": 1, **invoice_result(invoice)}
