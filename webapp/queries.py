"""What the API and the pages read: a job or an invoice by id (404 otherwise), and pages of the lists."""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, selectinload

from etl.models import ImportRun
from invoicing.models import Invoice
from jobs import lifecycle
from jobs.models import Job
from webapp.api.pagination import newest_first_page, split_page
from webapp.errors import ApiError
from webapp.runtime import runtime
from webapp.schemas.invoices import InvoiceListQuery
from webapp.schemas.jobs import JobListQuery


def parse_job_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ApiError(404, f"no job with id {raw!r}") from None


def get_job_or_404(session: Session, raw_id: str, *, for_update: bool = False) -> Job:
    job_id = parse_job_id(raw_id)
    try:
        return lifecycle.load_for_update(session, job_id) if for_update else lifecycle.load(session, job_id)
    except lifecycle.JobNotFound:
        raise ApiError(404, f"no job with id {raw_id!r}") from None


def find_jobs(query: JobListQuery) -> tuple[list[Job], str | None]:
    """One page of jobs, newest first, and the cursor of the next page (None on the last)."""
    statement = newest_first_page(select(Job), Job.created_at, Job.id, query.limit, query.cursor)
    statement = statement.where(*job_filters(query))
    with runtime().db.read_session() as session:
        return split_page(list(session.scalars(statement)), query.limit)


def count_jobs(query: JobListQuery) -> int:
    """How many jobs match the query's filters (all pages)."""
    with runtime().db.read_session() as session:
        return session.scalar(select(func.count()).select_from(Job).where(*job_filters(query))) or 0


def _contains(column: Any, text: str) -> ColumnElement[bool]:
    return func.lower(column).contains(text.lower(), autoescape=True)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def job_filters(query: JobListQuery) -> list[ColumnElement[bool]]:
    """The WHERE conditions of the query's filters. The domain keys (invoice number, customer, file name)
    match the job that issued the invoice or ran the import; a customer's email also finds its invoice emails."""
    found: list[ColumnElement[bool]] = []
    if query.state:
        found.append(Job.state == query.state)
    if query.kind:
        found.append(Job.kind == query.kind)
    for column, low, high in ((Job.created_at, query.created_from, query.created_to),
                              (Job.finished_at, query.finished_from, query.finished_to)):
        if low:
            found.append(column >= _day_start(low))
        if high:
            found.append(column < _day_start(high + timedelta(days=1)))
    if query.submitted_by:
        found.append(_contains(Job.submitted_by, query.submitted_by))
    if query.error_type:
        found.append(Job.error["type"].as_string() == query.error_type)
    if query.error:
        found.append(_contains(Job.error["message"].as_string(), query.error))
    if query.parent:
        found.append(Job.parent_id == query.parent)
    if query.invoice:
        found.append(Job.id.in_(select(Invoice.job_id).where(_contains(Invoice.number, query.invoice))))
    if query.customer:  # the job that issued the customer's invoice, or the one that emailed it
        found.append(Job.id.in_(select(Invoice.job_id).where(
            _contains(Invoice.customer_email, query.customer) | _contains(Invoice.customer["name"].as_string(),
                                                                           query.customer)))
                     | ((Job.kind == "invoice.email") & _contains(Job.params["to"].as_string(), query.customer)))
    if query.file:
        found.append(Job.id.in_(select(ImportRun.job_id).where(_contains(ImportRun.filename, query.file))))
    return found


def find_invoices(query: InvoiceListQuery) -> tuple[list[Invoice], str | None]:
    """One page of invoices, newest first, and the cursor of the next page (None on the last)."""
    statement = newest_first_page(select(Invoice), Invoice.created_at, Invoice.id, query.limit, query.cursor)
    if query.customer:
        statement = statement.where(_contains(Invoice.customer_email, query.customer))
    if query.date_from:
        statement = statement.where(Invoice.issue_date >= query.date_from)
    if query.date_to:
        statement = statement.where(Invoice.issue_date <= query.date_to)
    with runtime().db.read_session() as session:
        return split_page(list(session.scalars(statement)), query.limit)


def invoice_or_404(raw_id: str) -> Invoice:
    """The invoice with its lines; 404 for an unknown or malformed id."""
    try:
        invoice_id = uuid.UUID(raw_id)
    except ValueError:
        raise ApiError(404, f"no invoice with id {raw_id!r}") from None
    with runtime().db.read_session() as session:
        invoice = session.scalar(select(Invoice).options(selectinload(Invoice.lines)).where(Invoice.id == invoice_id))
    if invoice is None:
        raise ApiError(404, f"no invoice with id {raw_id!r}")
    return invoice
