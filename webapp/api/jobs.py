"""REST endpoints over jobs: status, listing, cancel and retry."""
from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, cast

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select

from accounts.roles import Role
from jobs import audit, hot_sql, lifecycle
from jobs.audit import AuditAction
from jobs.db import Database
from jobs.models import AnyJob, Job, JobAttempt, JobAuditEntry
from jobs.states import JobState
from webapp.access import current_actor, requires
from webapp.api.requests import query_args
from webapp.errors import ApiError
from webapp.queries import count_jobs, find_jobs, get_job_or_404, parse_job_id
from webapp.runtime import runtime
from webapp.schemas.jobs import JobListQuery
from webapp.serializers import job_document, job_etag, job_to_dict
from webapp.submit import retry

bp = Blueprint("jobs_api", __name__, url_prefix="/api/jobs")

RETRY_AFTER_S = {JobState.QUEUED: 2, JobState.RUNNING: 1, JobState.RETRYING: 2}


def with_retry_after(response: Response, job: AnyJob | Mapping[str, Any]) -> Response:
    """Tell a polling client how long to wait while the job is unfinished."""
    state = job["state"] if isinstance(job, Mapping) else job.state
    retry_after = RETRY_AFTER_S.get(JobState(state))
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


def accepted(job: AnyJob) -> Response:
    """202 with the job and where to poll it."""
    body = job_to_dict(job)
    response = jsonify(body)
    response.status_code = 202
    response.headers["Location"] = body["links"]["self"]
    return with_retry_after(response, job)


@bp.get("/<job_id>")
def get_job(job_id: str) -> Response:
    """The hottest read (clients poll it): on PostgreSQL one statement on the thread's own connection (the
    job with its attempts and audit trail), and for a client that sends its ETag only the row's version."""
    key = parse_job_id(job_id)
    db = runtime().db
    if db.is_postgresql:
        return _get_job_postgresql(db, key, job_id)
    with db.read_session() as session:
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


def _get_job_postgresql(db: Database, key: uuid.UUID, raw_id: str) -> Response:
    with db.hot() as hot:
        if request.if_none_match:
            version = hot_sql.job_version(hot, key)
            if version is None:
                raise ApiError(404, f"no job with id {raw_id!r}")
            etag = job_etag(version)
            if request.if_none_match.contains(etag):
                response = with_retry_after(Response(status=304), version)
                response.set_etag(etag)
                return response
        found = hot_sql.job_document(hot, key)
    if found is None:
        raise ApiError(404, f"no job with id {raw_id!r}")
    columns, history, audit = found
    response = jsonify(job_document(columns, history, audit))
    response.set_etag(job_etag(columns))
    return with_retry_after(response, columns)


@bp.get("")
def list_jobs() -> Response:
    query = query_args(JobListQuery)
    page, next_cursor = find_jobs(query)
    return jsonify({"items": [job_to_dict(job) for job in page], "next_cursor": next_cursor,
                    "count": count_jobs(query)})


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


@bp.post("/<job_id>/cancel")
@requires(Role.OPERATOR)
def cancel_job(job_id: str) -> Response:
    return job_response(cancel(job_id), 202)


@bp.post("/<job_id>/retry")
@requires(Role.OPERATOR)
def retry_failed_job(job_id: str) -> Response:
    return accepted(retry(job_id))
