"""The hot transitions as one guarded statement each (SQLAlchemy Core, statements built once).

A worker's common path is: claim a queued (or retrying) job, store progress, and finish the attempt.
Each is a single UPDATE whose WHERE clause is the guard (the state it may move from and, for a
running attempt, the attempt number: the fencing), with RETURNING instead of a read before the
write. On PostgreSQL the attempt row is written in the same statement (a data-modifying CTE); on
SQLite, which has no such CTEs, by a second statement in the same transaction, which on an
embedded database costs no round trip.

Each function answers None when its guard does not hold; jobs.lifecycle then takes the general
path, which tells the reason (a duplicate, a lost worker, a superseded attempt, a parent to count).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Row, Table, bindparam, exists, func, insert, literal, select, update
from sqlalchemy.orm import Session

from jobs.db import utcnow
from jobs.models import Job, JobAttempt
from jobs.states import AttemptOutcome, JobState

JOBS = cast(Table, Job.__table__)
ATTEMPTS = cast(Table, JobAttempt.__table__)

# What a transition's log line and metrics read (jobs.lifecycle.log_state_change).
TRANSITION_COLUMNS = (JOBS.c.id, JOBS.c.kind, JOBS.c.state, JOBS.c.queue, JOBS.c.attempts, JOBS.c.created_at,
                      JOBS.c.started_at, JOBS.c.finished_at)


@dataclass(frozen=True)
class JobRow:
    """The job as a transition left it (what log_state_change and the metrics need)."""

    id: Any
    kind: str
    state: str
    queue: str
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> JobRow:
        return cls(row.id, row.kind, row.state, row.queue, row.attempts, row.created_at, row.started_at,
                   row.finished_at)


@dataclass(frozen=True)
class Claimed:
    job: JobRow
    params: dict[str, Any]


def connection_of(target: Session | Connection) -> Connection:
    return target.connection() if isinstance(target, Session) else target


def _forget_loaded(target: Session | Connection, job_id: Any) -> None:
    """A session that holds the job (or its attempts) as objects reads them again after a statement wrote them."""
    if not isinstance(target, Session):
        return
    for instance in list(target.identity_map.values()):
        if (isinstance(instance, Job) and instance.id == job_id) or (
                isinstance(instance, JobAttempt) and instance.job_id == job_id):
            target.expire(instance)


def _is_postgresql(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


# --- claim ---------------------------------------------------------------------------------------

_CLAIM_UPDATE = (
    update(JOBS)
    .where(JOBS.c.id == bindparam("key"), JOBS.c.state.in_(bindparam("claimable", expanding=True)))
    .values(state=JobState.RUNNING.value, attempts=JOBS.c.attempts + 1,
            started_at=func.coalesce(JOBS.c.started_at, bindparam("now", type_=JOBS.c.started_at.type)),
            error=None, updated_at=bindparam("now"))
    .returning(*TRANSITION_COLUMNS, JOBS.c.params)
)
_CLAIM_CTE = _CLAIM_UPDATE.cte("claimed")
# set_config(…, true): this transaction's commit does not wait for the WAL flush. A claim lost in a
# database crash is redone by the redelivery (fenced by the attempt number), and the attempt's
# outcome, committed durably later, flushes the WAL up to and past the claim.
_CLAIM_WITH_ATTEMPT = (
    select(*_CLAIM_CTE.c, func.set_config("synchronous_commit", "off", True).label("async_commit"))
    .add_cte(insert(ATTEMPTS).from_select(
        ["job_id", "number", "outcome", "worker", "started_at"],
        select(_CLAIM_CTE.c.id, _CLAIM_CTE.c.attempts, literal(AttemptOutcome.RUNNING.value),
               bindparam("worker", type_=ATTEMPTS.c.worker.type), bindparam("now", type_=ATTEMPTS.c.started_at.type))
    ).cte("attempt"))
)
_INSERT_ATTEMPT = insert(ATTEMPTS)


def claimable(first_delivery: bool) -> list[str]:
    """The states a message may claim its job from: a job waiting for its retry is claimed by the retry's
    message (or a redelivery), not by another copy of its first one."""
    return [JobState.QUEUED.value] if first_delivery else [JobState.QUEUED.value, JobState.RETRYING.value]


def claim(target: Session | Connection, job_id: Any, worker: str, *, first_delivery: bool = False) -> Claimed | None:
    """A queued (or retrying) job becomes `running` with a new attempt; None if it was in no such state."""
    connection = connection_of(target)
    now = utcnow()
    values = {"key": job_id, "now": now, "worker": worker, "claimable": claimable(first_delivery)}
    if _is_postgresql(connection):
        row = connection.execute(_CLAIM_WITH_ATTEMPT, values).first()
    else:
        row = connection.execute(_CLAIM_UPDATE, values).first()
        if row is not None:
            connection.execute(_INSERT_ATTEMPT, {"job_id": row.id, "number": row.attempts,
                                                 "outcome": AttemptOutcome.RUNNING.value, "worker": worker,
                                                 "started_at": now, "error": None, "finished_at": None})
    if row is None:
        return None
    _forget_loaded(target, job_id)
    return Claimed(JobRow.of(row), dict(row.params or {}))


# --- progress ------------------------------------------------------------------------------------

_PROGRESS = (
    update(JOBS)
    .where(JOBS.c.id == bindparam("key"), JOBS.c.attempts == bindparam("attempt"),
           JOBS.c.state == JobState.RUNNING.value)
    .values(progress_done=bindparam("done"), progress_total=bindparam("total"),
            progress_message=bindparam("message"), updated_at=bindparam("now"))
    .returning(JOBS.c.cancel_requested)
)


def record_progress(target: Session | Connection, job_id: Any, attempt: int, done: int, total: int | None,
                    message: str | None) -> bool | None:
    """Store the attempt's progress; whether a cancel was requested, or None if the attempt is not current."""
    row = connection_of(target).execute(_PROGRESS, {"key": job_id, "attempt": attempt, "done": done,
                                                    "total": total, "message": message, "now": utcnow()}).first()
    if row is None:
        return None
    _forget_loaded(target, job_id)
    return bool(row.cancel_requested)


# --- finishing an attempt ------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    """How an attempt ends: the job's next state, the attempt's outcome, what the job row gets."""

    state: JobState
    attempt_outcome: AttemptOutcome
    sources: tuple[JobState, ...] = (JobState.RUNNING,)


SUCCEEDED = Outcome(JobState.SUCCEEDED, AttemptOutcome.SUCCEEDED)
FAILED = Outcome(JobState.FAILED, AttemptOutcome.FAILED, (JobState.RUNNING, JobState.RETRYING))
RETRYING = Outcome(JobState.RETRYING, AttemptOutcome.RETRYING)


def _finish_statements(outcome: Outcome, with_result: bool) -> tuple[Any, Any, Any]:
    """(job update, attempt close, PostgreSQL statement doing both) for `outcome`."""
    finished = outcome.state.finished
    values: dict[str, Any] = {"state": outcome.state.value, "error": bindparam("job_error", type_=JOBS.c.error.type),
                              "updated_at": bindparam("now")}
    if finished:
        values["finished_at"] = bindparam("now")
    if with_result:
        values["result"] = bindparam("job_result", type_=JOBS.c.result.type)
        values["progress_done"] = func.coalesce(JOBS.c.progress_total, JOBS.c.progress_done)
        values["progress_message"] = func.coalesce(bindparam("final_message", type_=JOBS.c.progress_message.type),
                                                   JOBS.c.progress_message)
    guard = [JOBS.c.id == bindparam("key"), JOBS.c.attempts == bindparam("attempt"),
             JOBS.c.state.in_([state.value for state in outcome.sources])]
    if finished:
        guard.append(JOBS.c.parent_id.is_(None))  # a child's end is counted on its parent: the general path
    job_update = update(JOBS).where(*guard).values(**values).returning(*TRANSITION_COLUMNS)
    close_values = {"outcome": outcome.attempt_outcome.value,
                    "error": bindparam("attempt_error", type_=ATTEMPTS.c.error.type),
                    "finished_at": bindparam("now", type_=ATTEMPTS.c.finished_at.type)}
    close = (update(ATTEMPTS)
             .where(ATTEMPTS.c.job_id == bindparam("key"), ATTEMPTS.c.number == bindparam("attempt"),
                    ATTEMPTS.c.outcome == AttemptOutcome.RUNNING.value)
             .values(**close_values))
    done = job_update.cte("done")
    # EXISTS, not `job_id IN (SELECT id FROM done)`: the planner cannot size a CTE and picked a scan of
    # every attempt for the IN, a cost growing with the table; the key keeps it on the primary key.
    both = select(*done.c).add_cte(
        update(ATTEMPTS)
        .where(ATTEMPTS.c.job_id == bindparam("key"), ATTEMPTS.c.number == bindparam("attempt"),
               ATTEMPTS.c.outcome == AttemptOutcome.RUNNING.value, exists(select(done.c.id)))
        .values(**close_values).cte("closed"))
    return job_update, close, both


# No failure here: lifecycle.fail writes a failure's events with it, on the general path.
_STATEMENTS = {(outcome, with_result): _finish_statements(outcome, with_result)
               for outcome in (SUCCEEDED, RETRYING) for with_result in (True, False)}


def finish(target: Session | Connection, job_id: Any, attempt: int, outcome: Outcome, *,
           result: Mapping[str, Any] | None = None, error: Mapping[str, Any] | None = None,
           final_message: str | None = None) -> JobRow | None:
    """End the current attempt with `outcome` in one statement; None if the guard does not hold.

    The guard is the fencing (the attempt number), the states the move may start from, and, for a
    final state, a job without a parent. A success may leave a last progress message.
    """
    connection = connection_of(target)
    job_update, close, both = _STATEMENTS[(outcome, outcome is SUCCEEDED)]
    values = {"key": job_id, "attempt": attempt, "now": utcnow(), "job_error": error,
              "attempt_error": error if outcome is not SUCCEEDED else None, "job_result": result,
              "final_message": final_message}
    if _is_postgresql(connection):
        row = connection.execute(both, values).first()
    else:
        row = connection.execute(job_update, values).first()
        if row is not None:
            connection.execute(close, values)
    if row is None:
        return None
    _forget_loaded(target, job_id)
    return JobRow.of(row)


def job_version(target: Session | Connection, job_id: Any) -> Row[Any, Any, Any, Any, Any] | None:
    """What a job's ETag is made of, and its state (for Retry-After): the 304 path reads nothing else."""
    return connection_of(target).execute(_VERSION, {"key": job_id}).first()


_VERSION = select(JOBS.c.id, JOBS.c.state, JOBS.c.updated_at, JOBS.c.attempts, JOBS.c.progress_done).where(
    JOBS.c.id == bindparam("key"))

