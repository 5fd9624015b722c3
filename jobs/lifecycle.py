"""The only place a job's state changes. Every function works inside the caller's transaction.

Moves that break the state machine raise InvalidTransition; a worker whose attempt has been
taken over by a newer one (its worker was presumed lost) gets AttemptSuperseded, so a stale
copy can never overwrite the outcome of the live one.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, object_session

from jobs import hot_sql, metrics, transitions
from jobs.database_errors import describe_database_error
from jobs.db import Database, utcnow
from jobs.events import emit, event_type
from jobs.kinds import declared_kinds
from jobs.metrics import StateChange
from jobs.models import Job, JobAttempt
from jobs.states import TRANSITIONS, AttemptOutcome, JobState
from jobs.topology import dead_letter_queue_name

log = logging.getLogger("jobs.lifecycle")
Result = TypeVar("Result")

JOB_FAILED = event_type("job.failed", "A job failed for good (no retry is left); `error` says why.",
                        ("job_id", "kind", "queue", "attempts", "error"))
JOB_DEAD_LETTERED = event_type(
    "job.dead_lettered", "A failed job's message was rejected into its queue's dead-letter queue, from where an "
    "operator can replay it.", ("job_id", "kind", "dead_letter_queue", "error"))
BATCH_FINISHED = event_type(
    "batch.finished", "A job that started child jobs ended when the last of them finished: `state` is succeeded "
    "if every child did, else failed with the others in `failed`.",
    ("job_id", "kind", "state", "children", "failed", "totals"))


class InvalidTransition(Exception):
    """The requested move is not allowed from the job's current state."""

    def __init__(self, job: Job, target: JobState) -> None:
        super().__init__(f"job {job.id} cannot move from {job.state} to {target}")
        self.current = JobState(job.state)
        self.target = target


class AttemptSuperseded(Exception):
    """The attempt is no longer the job's current one; its worker must stop without writing."""


class JobNotFound(LookupError):
    pass


def error_info(exc: BaseException | str, *, kind: str | None = None) -> dict[str, Any]:
    """A readable, JSON-safe description of what went wrong."""
    if isinstance(exc, StatementError):  # its text holds the SQL and parameters: those go to the log only
        return {"type": kind or "DatabaseError", "message": describe_database_error(exc)}
    if isinstance(exc, BaseException):
        info: dict[str, Any] = {"type": kind or type(exc).__name__, "message": str(exc) or type(exc).__name__}
        details = getattr(exc, "details", None)
        if isinstance(details, dict):
            info["details"] = details  # what the job had done when it failed, e.g. an import's summary
        return info
    return {"type": kind or "Error", "message": exc}


def log_state_change(job: StateChange) -> None:
    duration = None
    if job.started_at and job.finished_at:
        duration = round((job.finished_at - job.started_at).total_seconds(), 3)
    log.info(
        "job_id=%s kind=%s state=%s attempt=%s queue=%s duration=%s",
        job.id, job.kind, job.state, job.attempts, job.queue, duration,
        extra={"job_id": str(job.id), "kind": job.kind, "state": job.state, "attempt": job.attempts,
               "queue": job.queue, "duration_s": duration},
    )
    metrics.observe_state_change(job)


def _move(job: Job, target: JobState) -> None:
    if target not in TRANSITIONS[JobState(job.state)]:
        raise InvalidTransition(job, target)
    now = utcnow()
    job.state = target
    job.updated_at = now
    if target.finished:
        job.finished_at = now
        session = object_session(job)
        assert session is not None
        if target is JobState.FAILED:
            _emit_failure(session, job)
        if job.parent_id is not None:
            child_finished(session, job.parent_id)


def _emit_failure(session: Session, job: Job) -> None:
    """job.failed, and the kind's own failure event (e.g. invoice.email_failed) with the params it names."""
    error = job.error or {}
    emit(session, JOB_FAILED, f"jobs/{job.id}", {"job_id": str(job.id), "kind": job.kind, "queue": job.queue,
                                                 "attempts": job.attempts, "error": error}, job.id)
    kind = declared_kinds().get(job.kind)
    if kind is not None and kind.failure_event is not None:
        params = job.params or {}
        data = {"job_id": str(job.id), "error": error,
                **{name: params.get(name) for name in kind.failure_event.data if name not in ("job_id", "error")}}
        emit(session, kind.failure_event, f"jobs/{job.id}", data, job.id)


def emit_dead_lettered(session: Session, job: Job, dead_letter_queue: str) -> None:
    """In the transaction that failed the job, when its message is about to be rejected into `dead_letter_queue`."""
    emit(session, JOB_DEAD_LETTERED, f"jobs/{job.id}", {
        "job_id": str(job.id), "kind": job.kind, "dead_letter_queue": dead_letter_queue, "error": job.error or {}},
        job.id)


def child_finished(session: Session, parent_id: uuid.UUID) -> None:
    """Count a finished child on its parent; the last one ends the parent (in the child's transaction)."""
    parent = load_for_update(session, parent_id)
    if JobState(parent.state) is not JobState.RUNNING:
        return  # the parent ended already (failed, or retried children finishing late)
    children = list(session.scalars(select(Job).where(Job.parent_id == parent.id).order_by(Job.created_at, Job.id)))
    finished = [child for child in children if JobState(child.state).finished]
    parent.progress_done = len(finished)
    parent.progress_message = f"{len(finished)} of {len(children)} child jobs finished"
    parent.updated_at = utcnow()
    if parent.progress_total is not None and len(finished) >= parent.progress_total:
        finish_parent(session, parent, children)


def finish_parent(session: Session, parent: Job, children: list[Job]) -> None:
    """End a parent whose children have all finished: succeeded if they all did, failed naming the others."""
    failed = [str(child.id) for child in children if child.state != JobState.SUCCEEDED]
    result: dict[str, Any] = {"children": [str(child.id) for child in children], "failed": failed}
    for child in children:  # add up the children's counts (e.g. invoices)
        for key, value in (child.result or {}).items():
            if isinstance(value, int) and not isinstance(value, bool):
                result[key] = result.get(key, 0) + value
    if failed:
        error = error_info(f"{len(failed)} of {len(children)} child jobs did not succeed: {', '.join(failed)}",
                           kind="ChildJobsFailed") | {"details": result}
        fail(session, parent.id, parent.attempts, error)
    else:
        succeed(session, parent.id, parent.attempts, result)
    totals = {key: value for key, value in result.items() if key not in ("children", "failed")}
    emit(session, BATCH_FINISHED, f"jobs/{parent.id}", {
        "job_id": str(parent.id), "kind": parent.kind, "state": "failed" if failed else "succeeded",
        "children": len(children), "failed": failed, "totals": totals}, parent.id)


def load(session: Session, job_id: uuid.UUID | str) -> Job:
    job = session.get(Job, _as_uuid(job_id))
    if job is None:
        raise JobNotFound(str(job_id))
    return job


def load_for_update(session: Session, job_id: uuid.UUID | str) -> Job:
    """The job row, locked for the rest of the transaction (PostgreSQL; SQLite locks at BEGIN)."""
    statement = select(Job).where(Job.id == _as_uuid(job_id)).with_for_update()
    job = session.execute(statement.execution_options(populate_existing=True)).scalar_one_or_none()
    if job is None:
        raise JobNotFound(str(job_id))
    return job


def _as_uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _current_attempt(session: Session, job: Job) -> JobAttempt | None:
    if job.attempts == 0:
        return None
    return session.get(JobAttempt, (job.id, job.attempts))


def _close_attempt(session: Session, job: Job, outcome: AttemptOutcome, error: dict[str, Any] | None = None) -> None:
    attempt = _current_attempt(session, job)
    if attempt is not None and attempt.outcome == AttemptOutcome.RUNNING:
        attempt.outcome = outcome
        attempt.error = error
        attempt.finished_at = utcnow()


class Decision(Enum):
    RUN = "run"
    SKIP = "skip"
    GIVE_UP = "give_up"


@dataclass(frozen=True)
class Delivery:
    """What a worker should do with one delivered message (and, to run it, the job's params)."""

    decision: Decision
    attempt: int = 0
    reason: str = ""
    params: dict[str, Any] = field(default_factory=dict, compare=False)


def begin_attempt(
    session: Session,
    job_id: uuid.UUID | str,
    *,
    redelivered: bool,
    worker: str,
    max_worker_lost: int,
    worker_was_lost: bool = True,
    first_delivery: bool = False,
) -> Delivery:
    """Claim the job for one execution, or say why this delivery must not run it.

    A message for a finished job, or a second copy of a message whose job is running, is a
    duplicate and is skipped; so is a copy of a job's first message (`first_delivery`: neither a
    retry nor redelivered by the broker) while the job waits for its retry, as when the relay and
    the request both published it. A redelivered message whose job is still `running` means the
    worker that ran it was lost: the old attempt is closed as `lost`, and after
    `max_worker_lost` such losses the job fails instead of running again (a crash loop). A takeover
    after a database outage (`worker_was_lost=False`) closes the old attempt the same way but is not
    a crash and does not count toward that limit.

    The common case, a queued or retrying job, is one guarded statement (jobs.transitions.claim).
    """
    try:
        key = _as_uuid(job_id)
    except ValueError:
        return Delivery(Decision.SKIP, reason="no such job")
    claimed = transitions.claim(session, key, worker, first_delivery=first_delivery)
    if claimed is not None:
        log_state_change(claimed.job)
        return Delivery(Decision.RUN, attempt=claimed.job.attempts, params=claimed.params)
    try:
        job = load_for_update(session, key)
    except JobNotFound:
        return Delivery(Decision.SKIP, reason="no such job")
    state = JobState(job.state)
    if state.finished:
        return Delivery(Decision.SKIP, attempt=job.attempts, reason=f"job already {state}")
    if state is JobState.RETRYING and first_delivery:
        return Delivery(Decision.SKIP, attempt=job.attempts,
                        reason="a copy of the first message of a job waiting for its retry")
    if state is JobState.RUNNING:
        if not redelivered:
            return Delivery(Decision.SKIP, attempt=job.attempts, reason="duplicate of a running job")
        if not worker_was_lost:
            _close_attempt(session, job, AttemptOutcome.LOST, error_info(
                "the database became unreachable during this attempt; it was taken over once the database was back",
                kind="DatabaseUnavailable"))
        else:
            _close_attempt(session, job, AttemptOutcome.LOST, error_info("the worker running this attempt was lost",
                                                                          kind="WorkerLost"))
            job.worker_lost += 1
        if job.worker_lost >= max_worker_lost:
            job.error = error_info(
                f"the worker was lost {job.worker_lost} times while running this job "
                "(killed, out of memory or crashed); it is not run again",
                kind="WorkerLost",
            )
            _move(job, JobState.FAILED)
            emit_dead_lettered(session, job, dead_letter_queue_name(job.queue))
            log_state_change(job)
            return Delivery(Decision.GIVE_UP, attempt=job.attempts, reason=job.error["message"])
    now = utcnow()
    job.attempts += 1
    session.add(JobAttempt(job_id=job.id, number=job.attempts, worker=worker, started_at=now))
    job.started_at = job.started_at or now
    job.error = None
    _move(job, JobState.RUNNING)
    log_state_change(job)
    return Delivery(Decision.RUN, attempt=job.attempts, params=dict(job.params or {}))


def _one_statement(db: Database, on_postgresql: Callable[..., Result], elsewhere: Callable[..., Result],
                   *args: Any, **kwargs: Any) -> Result:
    """A hot transition as one statement of its own: psycopg on the thread's connection on PostgreSQL
    (jobs.hot_sql), a cached Core statement elsewhere (jobs.transitions); both take the same arguments."""
    if db.is_postgresql:
        with db.hot() as hot:
            return on_postgresql(hot, *args, **kwargs)
    with db.statement() as connection:
        return elsewhere(connection, *args, **kwargs)


def start_attempt(db: Database, job_id: uuid.UUID | str, *, redelivered: bool, worker: str, max_worker_lost: int,
                  worker_was_lost: bool = True, first_delivery: bool = False) -> Delivery:
    """begin_attempt in the fewest round trips: the claim as one statement of its own (the common case), else
    the general path in a transaction."""
    try:
        key = _as_uuid(job_id)
    except ValueError:
        return Delivery(Decision.SKIP, reason="no such job")
    claimed = _one_statement(db, hot_sql.claim, transitions.claim, key, worker, first_delivery=first_delivery)
    if claimed is not None:
        log_state_change(claimed.job)
        return Delivery(Decision.RUN, attempt=claimed.job.attempts, params=claimed.params)
    with db.transaction() as session:
        return begin_attempt(session, key, redelivered=redelivered, worker=worker, max_worker_lost=max_worker_lost,
                             worker_was_lost=worker_was_lost, first_delivery=first_delivery)


def end_attempt(db: Database, job_id: uuid.UUID | str, attempt: int, outcome: transitions.Outcome, *,
                result: dict[str, Any] | None = None, error: dict[str, Any] | None = None,
                dead_letter_queue: str | None = None) -> None:
    """succeed, fail or schedule_retry in the fewest round trips: one statement of its own when the attempt is
    current and the job has no parent, else the general path in a transaction (AttemptSuperseded when stale).
    A failure always takes the general path (its events are written with it)."""
    key = _as_uuid(job_id)
    if outcome is transitions.FAILED:
        with db.transaction() as session:
            fail(session, key, attempt, error or {}, dead_letter_queue=dead_letter_queue)
        return
    row = _one_statement(db, hot_sql.finish, transitions.finish, key, attempt, outcome, result=result, error=error)
    if row is not None:
        log_state_change(row)
        return
    with db.transaction() as session:
        if outcome is transitions.SUCCEEDED:
            succeed(session, key, attempt, result or {})
        else:
            schedule_retry(session, key, attempt, error or {})


def progress_checkpoint(db: Database, job_id: uuid.UUID | str, attempt: int, done: int, total: int | None,
                        message: str | None) -> bool:
    """record_progress as one statement of its own; whether a cancel was requested."""
    key = _as_uuid(job_id)
    cancel_requested = _one_statement(db, hot_sql.record_progress, transitions.record_progress, key, attempt, done,
                                      total, message)
    if cancel_requested is not None:
        return cancel_requested
    with db.transaction() as session:
        return record_progress(session, job_id, attempt, done, total, message)


def _load_current(
    session: Session, job_id: uuid.UUID | str, attempt: int, states: tuple[JobState, ...] = (JobState.RUNNING,)
) -> Job:
    job = load_for_update(session, job_id)
    if job.attempts != attempt or job.state not in states:
        raise AttemptSuperseded(f"job {job_id} attempt {attempt} is no longer current (state {job.state})")
    return job


def record_progress(
    session: Session, job_id: uuid.UUID | str, attempt: int, done: int, total: int | None, message: str | None
) -> bool:
    """Store progress; return True when a cancel has been requested (AttemptSuperseded for a stale attempt)."""
    cancel_requested = transitions.record_progress(session, _as_uuid(job_id), attempt, done, total, message)
    if cancel_requested is None:
        _load_current(session, job_id, attempt)  # raises AttemptSuperseded with the state it found
        raise AttemptSuperseded(f"job {job_id} attempt {attempt} is no longer current")
    return cancel_requested


def _finished_fast(session: Session, job_id: uuid.UUID | str, attempt: int, outcome: transitions.Outcome, *,
                   result: dict[str, Any] | None = None, error: dict[str, Any] | None = None,
                   final_message: str | None = None) -> bool:
    """The attempt ended in one statement (the common case); False leaves it to the general path."""
    row = transitions.finish(session, _as_uuid(job_id), attempt, outcome, result=result, error=error,
                             final_message=final_message)
    if row is None:
        return False
    log_state_change(row)
    return True


def succeed(session: Session, job_id: uuid.UUID | str, attempt: int, result: dict[str, Any], *,
            final_message: str | None = None) -> None:
    """The attempt succeeded: the job's result, its progress at its total (and `final_message`, if given)."""
    if _finished_fast(session, job_id, attempt, transitions.SUCCEEDED, result=result, final_message=final_message):
        return
    job = _load_current(session, job_id, attempt)
    job.result = result
    job.error = None
    if job.progress_total is not None:
        job.progress_done = job.progress_total
    if final_message is not None:
        job.progress_message = final_message
    _close_attempt(session, job, AttemptOutcome.SUCCEEDED)
    _move(job, JobState.SUCCEEDED)
    log_state_change(job)


def fail(session: Session, job_id: uuid.UUID | str, attempt: int, error: dict[str, Any], *,
         dead_letter_queue: str | None = None) -> None:
    """The attempt failed for good (also from `retrying`, when its retry could not be scheduled), with its
    failure events; `dead_letter_queue` when its message is about to be rejected there.

    Never the one-statement path: a failure writes its events with it, and failures are rare.
    """
    job = _load_current(session, job_id, attempt, (JobState.RUNNING, JobState.RETRYING))
    job.error = error
    _close_attempt(session, job, AttemptOutcome.FAILED, error)
    _move(job, JobState.FAILED)
    if dead_letter_queue is not None:
        emit_dead_lettered(session, job, dead_letter_queue)
    log_state_change(job)


def schedule_retry(session: Session, job_id: uuid.UUID | str, attempt: int, error: dict[str, Any]) -> None:
    if _finished_fast(session, job_id, attempt, transitions.RETRYING, error=error):
        return
    job = _load_current(session, job_id, attempt)
    job.error = error
    _close_attempt(session, job, AttemptOutcome.RETRYING, error)
    _move(job, JobState.RETRYING)
    log_state_change(job)


def cancel_at_checkpoint(
    session: Session,
    job_id: uuid.UUID | str,
    attempt: int,
    *,
    result: dict[str, Any] | None = None,
    message: str | None = None,
) -> Job:
    """A running job stops at a progress checkpoint after a cancel request, keeping what it says it kept."""
    job = _load_current(session, job_id, attempt)
    _close_attempt(session, job, AttemptOutcome.CANCELLED)
    job.result = result
    job.progress_message = message or f"cancelled at {job.progress_done}" + (
        f" of {job.progress_total}" if job.progress_total is not None else ""
    )
    _move(job, JobState.CANCELLED)
    log_state_change(job)
    return job


def request_cancel(session: Session, job: Job) -> Job:
    """Cancel a queued or retrying job now; ask a running one to stop at its next checkpoint."""
    state = JobState(job.state)
    if state in (JobState.QUEUED, JobState.RETRYING):
        _close_attempt(session, job, AttemptOutcome.CANCELLED)
        job.cancel_requested = True
        _move(job, JobState.CANCELLED)
        log_state_change(job)
    elif state is JobState.RUNNING:
        job.cancel_requested = True
        job.updated_at = utcnow()
    else:
        raise InvalidTransition(job, JobState.CANCELLED)
    return job


def requeue_failed(session: Session, job: Job) -> Job:
    """Start a new attempt of a failed job (the caller publishes its message)."""
    _move(job, JobState.QUEUED)
    job.finished_at = None
    job.worker_lost = 0
    job.cancel_requested = False
    job.progress_done = 0
    job.progress_message = None
    log_state_change(job)
    return job
