"""Writing jobs: a Job, its outbox message and its `submitted` audit entry, in the caller's transaction.

The three rows are written with SQLAlchemy Core (no unit of work: the ORM's flush was most of a
submit's CPU); what is returned are values holding what was written (SubmittedJob, OutboxRow), not
objects of the session. On PostgreSQL, a submit that is a transaction by itself (a web request
without an Idempotency-Key) is one statement on the thread's own connection (jobs.hot_sql.SUBMIT).
"""
from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import Connection, Table, insert
from sqlalchemy.orm import Session

from jobs import audit, hot_sql, lifecycle
from jobs.audit import Actor, AuditAction
from jobs.db import Database, utcnow
from jobs.kinds import JobKind, UnknownJobKind, as_kind
from jobs.models import Job, JobAuditEntry, OutboxMessage, OutboxRow, SubmittedJob
from jobs.states import JobState

__all__ = ["UnknownJobKind", "retry_job", "submit_alone", "submit_job"]

JOBS = cast(Table, Job.__table__)
OUTBOX = cast(Table, OutboxMessage.__table__)
AUDIT = cast(Table, JobAuditEntry.__table__)
_INSERT_JOB = insert(JOBS)
_INSERT_OUTBOX = insert(OUTBOX).returning(OUTBOX.c.id)
_INSERT_AUDIT = insert(AUDIT)


def _outbox_message(job: Job) -> OutboxMessage:
    # A kind's Celery task is named as the kind.
    return OutboxMessage(job_id=job.id, task_name=job.kind, queue=job.queue)


def new_job_values(kind: JobKind | str, params: dict[str, Any], *, idempotency_key: str | None = None,
                   actor: Actor | None = None, job_id: uuid.UUID | None = None,
                   parent_id: uuid.UUID | None = None) -> dict[str, Any]:
    """Every column of a new queued job."""
    declared = as_kind(kind)
    now = utcnow()
    return {
        "id": job_id or uuid.uuid4(), "kind": declared.name, "state": JobState.QUEUED.value,
        "queue": declared.queue.name, "params": params, "progress_done": 0, "progress_total": None,
        "progress_message": None, "attempts": 0, "worker_lost": 0, "cancel_requested": False, "result": None,
        "error": None, "idempotency_key": idempotency_key, "submitted_by": actor.name if actor else None,
        "parent_id": parent_id, "created_at": now, "started_at": None, "finished_at": None, "updated_at": now,
    }


def _written(values: dict[str, Any], outbox_id: int) -> tuple[SubmittedJob, OutboxRow]:
    job = SubmittedJob(**values)
    lifecycle.log_state_change(job)
    return job, OutboxRow(outbox_id, values["id"], values["kind"], values["queue"])


def submit_job(
    session: Session | Connection,
    kind: JobKind | str,
    params: dict[str, Any],
    *,
    idempotency_key: str | None = None,
    actor: Actor | None = None,
    job_id: uuid.UUID | None = None,
    parent_id: uuid.UUID | None = None,
) -> tuple[SubmittedJob, OutboxRow]:
    """Add a queued job, its outbox message and who submitted it; publish the message after the commit."""
    values = new_job_values(kind, params, idempotency_key=idempotency_key, actor=actor, job_id=job_id,
                            parent_id=parent_id)
    connection = session.connection() if isinstance(session, Session) else session
    connection.execute(_INSERT_JOB, values)
    outbox_id = connection.execute(_INSERT_OUTBOX, {
        "job_id": values["id"], "task_name": values["kind"], "queue": values["queue"],
        "created_at": values["created_at"], "sent_at": None, "publish_attempts": 0, "last_error": None,
    }).scalar_one()
    connection.execute(_INSERT_AUDIT, {
        "job_id": values["id"], "action": AuditAction.SUBMITTED.value, "actor": actor.name if actor else None,
        "via": actor.via if actor else None, "at": values["created_at"]})
    return _written(values, outbox_id)


def submit_alone(db: Database, kind: JobKind | str, params: dict[str, Any], *, actor: Actor | None = None,
                 job_id: uuid.UUID | None = None) -> tuple[SubmittedJob, OutboxRow]:
    """submit_job as a transaction of its own, in the fewest round trips: one statement on PostgreSQL."""
    if not db.is_postgresql:
        with db.statement() as connection:
            return submit_job(connection, kind, params, actor=actor, job_id=job_id)
    values = new_job_values(kind, params, actor=actor, job_id=job_id)
    with db.hot() as hot:
        outbox_id = hot_sql.submit(hot, values, actor.via if actor else None)
    return _written(values, outbox_id)


def retry_job(
    session: Session, job: Job, actor: Actor | None = None, action: AuditAction = AuditAction.RETRIED
) -> OutboxMessage:
    """A failed job gets a new attempt: back to queued with a fresh outbox message (a retry or a replay)."""
    lifecycle.requeue_failed(session, job)
    message = _outbox_message(job)
    session.add(message)
    audit.record(session, job, action, actor)
    session.flush()
    return message
