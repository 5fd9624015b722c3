"""Batch invoicing: every uninvoiced order of a period, one child job per customer and currency.

The parent job (`invoice.batch`) finds who has uninvoiced orders and starts their child jobs (on
`invoices.bulk`, so single invoices on `invoices` never wait behind a batch); it stays `running`
until the last child finishes (jobs.lifecycle counts them). A child (`invoice.customer_batch`)
locks its customer's uninvoiced orders, bills them in one invoice and links them to it in the same
transaction, so no order is ever billed twice, even by two batches over overlapping periods; a
batch run again finds nothing left to bill.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, select
from sqlalchemy.orm import Session

from invoicing.issue import finish_invoice, invoice_result
from invoicing.models import Customer, Invoice, Order
from invoicing.money import LineItem
from invoicing.options import InvoicingOptions
from invoicing.party import Party
from invoicing.request import InvoiceRequest
from invoicing.store import invoice_for_job, store_invoice
from jobs.context import JobContext, WaitForChildren
from jobs.kinds import job_kind
from jobs.topology import INVOICES, INVOICES_BULK


def _period(params: dict[str, Any]) -> tuple[date, date]:
    return date.fromisoformat(params["period_start"]), date.fromisoformat(params["period_end"])


def _uninvoiced_in(start: date, end: date) -> ColumnElement[bool]:
    return and_(Order.invoice_id.is_(None), Order.order_date >= start, Order.order_date <= end)


@job_kind("invoice.customer_batch", queue=INVOICES_BULK)
def invoice_customer_orders(ctx: JobContext) -> dict[str, Any]:
    """Invoice one customer's uninvoiced orders of the period in one currency (a batch's child job)."""
    options = InvoicingOptions.from_settings(ctx.settings)
    start, end = _period(ctx.params)
    email, currency = ctx.params["customer_email"], ctx.params["currency"]
    with ctx.transaction() as session:
        ctx.checkpoint(0, 1, f"billing the orders of {email}", session=session)
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
    return finish_invoice(ctx, invoice, options, send_email=bool(ctx.params.get("send_email", True)),
                          result={"invoices": 1, **invoice_result(invoice)})


@job_kind("invoice.batch", queue=INVOICES)
def run_batch(ctx: JobContext) -> dict[str, Any]:
    """Start one child job per customer and currency with uninvoiced orders in the period."""
    start, end = _period(ctx.params)
    with ctx.transaction() as session:
        ctx.checkpoint(0, None, "finding uninvoiced orders", session=session)
        if ctx.children_started(session):
            raise WaitForChildren()  # a redelivery: the children were started by an earlier attempt
        groups = session.execute(select(Order.customer_email, Order.currency).distinct()
                                 .where(_uninvoiced_in(start, end))
                                 .order_by(Order.customer_email, Order.currency)).all()
        if not groups:
            return {"invoices": 0, "children": [], "failed": []}
        ctx.start_children(session, invoice_customer_orders, [
            {"customer_email": email, "currency": currency, "period_start": start.isoformat(),
             "period_end": end.isoformat(), "send_email": bool(ctx.params.get("send_email", True))}
            for email, currency in groups])
    raise WaitForChildren()


def _customer(session: Session, email: str) -> Party:
    """Who is billed: the `customers` row with this email, or just the email when there is none."""
    customer = session.scalar(select(Customer).where(Customer.email == email).order_by(Customer.customer_id).limit(1))
    if customer is None:
        return Party(name=email, email=email)
    return Party(name=customer.name, email=email, country=customer.country, tax_id=customer.tax_id or "",
                 address=customer.address or "")


def _lock_orders(session: Session, email: str, currency: str, start: date, end: date) -> list[Order]:
    statement: Select[Order] = (
        select(Order)
        .where(Order.customer_email == email, Order.currency == currency, _uninvoiced_in(start, end))
        .order_by(Order.order_date, Order.order_id, Order.sku)
        .with_for_update()  # PostgreSQL locks the rows; SQLite's write lock is taken at BEGIN
    )
    return list(session.scalars(statement))


def _link_orders(session: Session, invoice: Invoice, orders: list[Order]) -> None:
    for order in orders:
        order.invoice_id = invoice.id
    session.flush()
