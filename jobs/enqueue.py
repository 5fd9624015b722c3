"""Writing jobs: a Job and its outbox message are added in the caller's transaction."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from jobs import audit, lifecycle
from jobs.audit import Actor, AuditAction
from jobs.db import utcnow
from jobs.kinds import JobKind, UnknownJobKind, as_kind
from jobs.models import Job, OutboxMessage
from jobs.states import JobState

__all__ = ["UnknownJobKind", "retry_job", "submit_job"]


def _outbox_message(job: Job) -> OutboxMessage:
    # A kind's Celery task is named as the kind.
    return OutboxMessage(job_id=job.id, task_name=job.kind, queue=job.queue)


def submit_job(
    session: Session,
    kind: JobKind | str,
    params: dict[str, Any],
    *,
    idempotency_key: str | None = None,
    actor: Actor | None = None,
    job_id: uuid.UUID | None = None,
    parent_id: uuid.UUID | None = None,
) -> tuple[Job, OutboxMessage]:
    """Add a queued job, its outbox message and who submitted it; publish the message after the commit."""
    declared = as_kind(kind)
    now = utcnow()
    job = Job(
        id=job_id or uuid.uuid4(),
        kind=declared.name,
        state=JobState.QUEUED,
        queue=declared.queue.name,
        params=params,
        idempotency_key=idempotency_key,
        submitted_by=actor.name if actor else None,
        parent_id=parent_id,
        attempts=0,
        worker_lost=0,
        progress_done=0,
        cancel_requested=False,
        created_at=now,
        updated_at=now,
    )
    message = _outbox_message(job)
    session.add(job)
    session.flush()
    session.add(message)
    audit.record(session, job, AuditAction.SUBMITTED, actor)
    session.flush()
    lifecycle.log_state_change(job)
    return job, message


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
