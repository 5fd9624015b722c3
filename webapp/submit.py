"""The one way the web accepts a job: one transaction, then the message handed to the fast path.

`submit` writes the job, its outbox message and its audit entry (and whatever the endpoint adds
beside the job, such as an import's ImportRun) in one transaction; without anything beside the job
and without an Idempotency-Key, that transaction is one statement (jobs.enqueue.submit_alone). The
request then hands the message to the process's fast-path publisher and answers: it never waits
for the broker, and a message the fast path cannot publish is the relay's. With an
`Idempotency-Key` header (any submit endpoint), the same key and body answer the first job again,
per user. `retry` is the same path for a failed job's new attempt.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from flask import request
from sqlalchemy.orm import Session

from jobs import idempotency
from jobs.enqueue import retry_job, submit_alone, submit_job
from jobs.kinds import JobKind
from jobs.models import AnyJob, Job, OutboxRow
from jobs.publisher import OutboxItem
from jobs.states import JobState
from webapp.access import current_actor, current_identity
from webapp.errors import ApiError
from webapp.queries import get_job_or_404
from webapp.runtime import runtime

IDEMPOTENCY_HEADER = "Idempotency-Key"

# Writes something beside a newly accepted job, in its transaction.
AlongsideJob = Callable[[Session, AnyJob], None]


def idempotency_key() -> str | None:
    """The request's Idempotency-Key, or None; 422 naming the header when it is unusable."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > idempotency.MAX_KEY_LENGTH or not key.isprintable():
        raise ApiError(422, "invalid request", [{"field": IDEMPOTENCY_HEADER,
                                                 "reason": f"1 to {idempotency.MAX_KEY_LENGTH} printable characters"}])
    return key


def submit(kind: JobKind, params: dict[str, Any], *, job_id: uuid.UUID | None = None,
           alongside: AlongsideJob | None = None) -> tuple[AnyJob, bool]:
    """Accept a job for the current caller; (the job, whether it is new rather than an Idempotency-Key replay)."""
    key = idempotency_key()
    actor = current_actor()
    if key is None and alongside is None:
        written, alone = submit_alone(runtime().db, kind, params, actor=actor, job_id=job_id)
        runtime().fast_path.hand_over(alone)
        return written, True

    def write(session: Session) -> tuple[AnyJob, OutboxItem | None]:
        job: AnyJob
        message: OutboxRow | None
        if key is None:
            job, message = submit_job(session, kind, params, actor=actor, job_id=job_id)
        else:
            job, message = idempotency.submit_once(session, kind, params, key=key,
                                                   owner=str(current_identity().user_id), actor=actor, job_id=job_id)
        if message is not None and alongside is not None:
            alongside(session, job)
        return job, message

    try:
        accepted_job, accepted = _accept(write)
    except idempotency.KeyInFlight:
        raise ApiError(409, "a request with this Idempotency-Key is still being accepted; retry shortly",
                       headers={"Retry-After": "1"}) from None
    except idempotency.KeyReused:
        raise ApiError(422, "invalid request", [{"field": IDEMPOTENCY_HEADER,
                                                 "reason": "already used with a different request body"}]) from None
    return accepted_job, accepted is not None


def retry(job_id: str) -> Job:
    """Queue a failed job again as a new attempt (409 otherwise); for the API and the job page."""

    found: list[Job] = []

    def write(session: Session) -> tuple[AnyJob, OutboxItem | None]:
        job = get_job_or_404(session, job_id, for_update=True)
        if job.state != JobState.FAILED:
            raise ApiError(409, f"job is {job.state}; only failed jobs can be retried")
        found.append(job)
        return job, retry_job(session, job, current_actor())

    _accept(write)
    return found[0]


def _accept(write: Callable[[Session], tuple[AnyJob, OutboxItem | None]]) -> tuple[AnyJob, OutboxItem | None]:
    rt = runtime()
    with rt.db.transaction() as session:
        job, message = write(session)
    if message is not None:
        rt.fast_path.hand_over(message)
    return job, message
