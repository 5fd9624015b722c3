"""What the API and the pages read: a job or an invoice by id (404 otherwise), and pages of the lists."""
from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

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
    if query.state:
        statement = statement.where(Job.state == query.state)
    if query.kind:
        statement = statement.where(Job.kind == query.kind)
    with runtime().db.read_session() as session:
        return split_page(list(session.scalars(statement)), query.limit)


def find_invoices(query: InvoiceListQuery) -> tuple[list[Invoice], str | None]:
    """One page of invoices, newest first, and the cursor of the next page (None on the last)."""
    statement = newest_first_page(select(Invoice), Invoice.created_at, Invoice.id, query.limit, query.cursor)
    if query.customer:
        statement = statement.where(func.lower(Invoice.customer_email).contains(query.customer.lower(),
                                                                                autoescape=True))
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
