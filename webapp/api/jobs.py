"""REST endpoints over jobs: status, listing, cancel and retry."""
from __future__ import annotations

import uuid
from typing import Literal, cast

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.roles import Role
from jobs import audit, lifecycle
from jobs.audit import AuditAction
from jobs.enqueue import retry_job
from jobs.models import Job, JobAttempt, JobAuditEntry
from jobs.states import JobState
from jobs.topology import JOB_KINDS
from webapp.access import current_actor, requires
from webapp.api.pagination import newest_first_page, split_page
from webapp.api.requests import query_args
from webapp.errors import ApiError
from webapp.runtime import runtime
from webapp.serializers import job_etag, job_to_dict, job_url

bp = Blueprint("jobs_api", __name__, url_prefix="/api/jobs")

RETRY_AFTER_S = {JobState.QUEUED: 2, JobState.RUNNING: 1, JobState.RETRYING: 2}


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


def with_retry_after(response: Response, job: Job) -> Response:
    """Tell a polling client how long to wait while the job is unfinished."""
    retry_after = RETRY_AFTER_S.get(JobState(job.state))
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def job_response(
    job: Job,
    status: int = 200,
    *,
    attempts: list[JobAttempt] | None = None,
    audit_trail: list[JobAuditEntry] | None = None,
) -> Response:
    response = jsonify(job_to_dict(job, attempts=attempts, audit_trail=audit_trail))
    response.status_code = status
    return with_retry_after(response, job)


def accepted(job: Job) -> Response:
    response = job_response(job, 202)
    response.headers["Location"] = job_url(job.id)
    return response


@bp.get("/<job_id>")
def get_job(job_id: str) -> Response:
    # The hottest read (clients poll it): Core rows, which read like the ORM objects, cost a third of
    # ORM loads; a 304 needs the job row only (docs/benchmarks.md).
    key = parse_job_id(job_id)
    with runtime().db.read_session() as session:
        job = cast(Job, session.execute(select(Job.__table__).where(Job.id == key)).first())
        if job is None:
            raise ApiError(404, f"no job with id {job_id!r}")
        etag = job_etag(job)
        if request.if_none_match.contains(etag):
            response = with_retry_after(Response(status=304), job)
        else:
            attempts = session.execute(select(JobAttempt.__table__).where(JobAttempt.job_id == key)
                                       .order_by(JobAttempt.number)).all()
            trail = session.execute(select(JobAuditEntry.__table__).where(JobAuditEntry.job_id == key)
                                    .order_by(JobAuditEntry.id)).all()
            response = job_response(job, attempts=cast(list[JobAttempt], attempts),
                                    audit_trail=cast(list[JobAuditEntry], trail))
    response.set_etag(etag)
    return response


class JobListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: JobState | None = None
    kind: Literal[tuple(JOB_KINDS)] | None = None  # type: ignore[valid-type]
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = None


def find_jobs(query: JobListQuery) -> tuple[list[Job], str | None]:
    """One page of jobs, newest first, and the cursor of the next page (None on the last)."""
    statement = newest_first_page(select(Job), Job.created_at, Job.id, query.limit, query.cursor)
    if query.state:
        statement = statement.where(Job.state == query.state)
    if query.kind:
        statement = statement.where(Job.kind == query.kind)
    with runtime().db.read_session() as session:
        return split_page(list(session.scalars(statement)), query.limit)


@bp.get("")
def list_jobs() -> Response:
    page, next_cursor = find_jobs(query_args(JobListQuery))
    return jsonify({"items": [job_to_dict(job) for job in page], "next_cursor": next_cursor})


def cancel(job_id: str) -> Job:
    """Ask a queued, retrying or running job to stop (409 otherwise); for the API and the job page."""
    with runtime().db.transaction() as session:
        job = get_job_or_404(session, job_id, for_update=True)
        try:
            lifecycle.request_cancel(session, job)
        except lifecycle.InvalidTransition:
            raise ApiError(409, f"job is {job.state}; only queued, retrying or running jobs can be cancelled") from None
        audit.record(session, job, AuditAction.CANCELLED, current_actor())
    return job


def retry(job_id: str) -> Job:
    """Queue a failed job again as a new attempt (409 otherwise); for the API and the job page."""
    with runtime().db.transaction() as session:
        job = get_job_or_404(session, job_id, for_update=True)
        if job.state != JobState.FAILED:
            raise ApiError(409, f"job is {job.state}; only failed jobs can be retried")
        message = retry_job(session, job, current_actor())
    runtime().publisher.publish_after_commit(message)
    return job


@bp.post("/<job_id>/cancel")
@requires(Role.OPERATOR)
def cancel_job(job_id: str) -> Response:
    return job_response(cancel(job_id), 202)


@bp.post("/<job_id>/retry")
@requires(Role.OPERATOR)
def retry_failed_job(job_id: str) -> Response:
    return accepted(retry(job_id))
