"""The hot statements on PostgreSQL, sent by psycopg on a thread's own connection (jobs.db.Database.hot).

The worker's transitions: each is one statement in autocommit (its own transaction: one round trip),
the guard in its WHERE clause, the attempt row written in the same statement by a data-modifying CTE.
And the status endpoint's reads: the job with its attempts and audit trail in one statement, or only
what its ETag is made of. The statements are
the ones jobs.transitions builds with SQLAlchemy Core for SQLite and for use inside a caller's
transaction; here they skip SQLAlchemy's pool checkout and execution layers, which cost two thirds
of a tracked no-op job's CPU in the worker (docs/benchmarks.md). psycopg prepares each statement
after its fifth use. The results are plain tuples read by position.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg import Connection
from psycopg.types.json import Jsonb

from jobs.db import utcnow
from jobs.transitions import RETRYING, SUCCEEDED, Claimed, JobRow, Outcome, claimable

_RETURNING = "id, kind, state, queue, attempts, created_at, started_at, finished_at"

# synchronous_commit off for the claim's own transaction: a claim lost in a database crash is redone
# by the redelivery (fenced by the attempt number), and the outcome's durable commit flushes the WAL
# up to and past it.
CLAIM = f"""
WITH claimed AS (
  UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = coalesce(started_at, %(now)s),
                  error = NULL, updated_at = %(now)s
  WHERE id = %(key)s AND state = ANY(%(claimable)s)
  RETURNING {_RETURNING}, params
), attempt AS (
  INSERT INTO job_attempts (job_id, number, outcome, worker, started_at)
  SELECT id, attempts, 'running', %(worker)s, %(now)s FROM claimed
)
SELECT {_RETURNING}, params, set_config('synchronous_commit', 'off', true) FROM claimed"""

PROGRESS = """
UPDATE jobs SET progress_done = %(done)s, progress_total = %(total)s, progress_message = %(message)s,
                updated_at = %(now)s
WHERE id = %(key)s AND attempts = %(attempt)s AND state = 'running'
RETURNING cancel_requested"""


def _finish_sql(outcome: Outcome) -> str:
    sources = ", ".join(f"'{state.value}'" for state in outcome.sources)
    extra = ", finished_at = %(now)s" if outcome.state.finished else ""
    if outcome is SUCCEEDED:
        extra += (", result = %(result)s, progress_done = coalesce(progress_total, progress_done)"
                  ", progress_message = coalesce(%(final_message)s, progress_message)")
    no_parent = " AND parent_id IS NULL" if outcome.state.finished else ""
    # EXISTS on the CTE, not `job_id IN (SELECT id FROM done)`: the planner cannot size a CTE and scans
    # every attempt for the IN; the key keeps the close on the primary key.
    return f"""
WITH done AS (
  UPDATE jobs SET state = '{outcome.state.value}', error = %(error)s, updated_at = %(now)s{extra}
  WHERE id = %(key)s AND attempts = %(attempt)s AND state IN ({sources}){no_parent}
  RETURNING {_RETURNING}
), closed AS (
  UPDATE job_attempts SET outcome = '{outcome.attempt_outcome.value}', error = %(attempt_error)s,
                          finished_at = %(now)s
  WHERE job_id = %(key)s AND number = %(attempt)s AND outcome = 'running' AND EXISTS (SELECT 1 FROM done)
)
SELECT {_RETURNING} FROM done"""


# No failure here: lifecycle.fail writes a failure's events with it, on the general path.
FINISH = {outcome: _finish_sql(outcome) for outcome in (SUCCEEDED, RETRYING)}


# --- submit: the job, its outbox message and its audit entry -------------------------------------

SUBMIT = """
WITH job AS (
  INSERT INTO jobs (id, kind, state, queue, params, progress_done, attempts, worker_lost, cancel_requested,
                    idempotency_key, submitted_by, parent_id, created_at, updated_at)
  VALUES (%(id)s, %(kind)s, 'queued', %(queue)s, %(params)s, 0, 0, 0, false, %(idempotency_key)s,
          %(submitted_by)s, %(parent_id)s, %(created_at)s, %(created_at)s)
  RETURNING id
), audit AS (
  INSERT INTO job_audit (job_id, action, actor, via, at)
  SELECT id, 'submitted', %(submitted_by)s, %(via)s, %(created_at)s FROM job
)
INSERT INTO outbox_messages (job_id, task_name, queue, created_at, publish_attempts)
SELECT id, %(kind)s, %(queue)s, %(created_at)s, 0 FROM job
RETURNING id"""


def submit(connection: Connection[Any], values: Mapping[str, Any], via: str | None) -> int:
    """Write a new job (its columns in `values`), its outbox message and its audit entry; the message's id."""
    row = connection.execute(SUBMIT, {**values, "params": Jsonb(dict(values["params"])), "via": via}).fetchone()
    assert row is not None
    return int(row[0])


# --- the job's document (GET /api/jobs/<id>) ------------------------------------------------------

_UTC_TEXT = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
JOB_COLUMNS = ("id", "kind", "state", "queue", "params", "progress_done", "progress_total", "progress_message",
               "attempts", "cancel_requested", "submitted_by", "created_at", "started_at", "finished_at",
               "updated_at", "result", "error")

# The job, its attempts and its audit trail in one statement: the database builds the two lists.
JOB_DOCUMENT = f"""
SELECT {", ".join("j." + name for name in JOB_COLUMNS)},
  (SELECT coalesce(json_agg(json_build_object(
            'number', a.number, 'outcome', a.outcome, 'worker', a.worker, 'error', a.error,
            'started_at', {_UTC_TEXT.format("a.started_at")}, 'finished_at', {_UTC_TEXT.format("a.finished_at")})
          ORDER BY a.number), '[]'::json)
   FROM job_attempts a WHERE a.job_id = j.id) AS attempt_history,
  (SELECT coalesce(json_agg(json_build_object(
            'action', e.action, 'by', e.actor, 'via', e.via, 'at', {_UTC_TEXT.format("e.at")}) ORDER BY e.id),
          '[]'::json)
   FROM job_audit e WHERE e.job_id = j.id) AS audit
FROM jobs j WHERE j.id = %(key)s"""

JOB_VERSION = "SELECT id, state, updated_at, attempts, progress_done FROM jobs WHERE id = %(key)s"


def job_document(connection: Connection[Any], job_id: Any) -> tuple[dict[str, Any], list[Any], list[Any]] | None:
    """(the job's columns by name, its attempt history, its audit trail), or None for an unknown id."""
    row = connection.execute(JOB_DOCUMENT, {"key": job_id}).fetchone()
    if row is None:
        return None
    return dict(zip(JOB_COLUMNS, row[:len(JOB_COLUMNS)], strict=True)), row[-2], row[-1]


def job_version(connection: Connection[Any], job_id: Any) -> dict[str, Any] | None:
    """What a job's ETag is made of, and its state: all the 304 path reads."""
    row = connection.execute(JOB_VERSION, {"key": job_id}).fetchone()
    return None if row is None else dict(zip(("id", "state", "updated_at", "attempts", "progress_done"), row,
                                             strict=True))


# --- the worker's transitions --------------------------------------------------------------------

def _job_row(row: tuple[Any, ...]) -> JobRow:
    return JobRow(*row[:8])


def _json(value: Mapping[str, Any] | None) -> Jsonb | None:
    return None if value is None else Jsonb(dict(value))


def claim(connection: Connection[Any], job_id: Any, worker: str, *, first_delivery: bool = False) -> Claimed | None:
    row = connection.execute(CLAIM, {"now": utcnow(), "key": job_id, "worker": worker,
                                     "claimable": claimable(first_delivery)}).fetchone()
    return None if row is None else Claimed(_job_row(row), dict(row[8] or {}))


def record_progress(connection: Connection[Any], job_id: Any, attempt: int, done: int, total: int | None,
                    message: str | None) -> bool | None:
    row = connection.execute(PROGRESS, {"now": utcnow(), "key": job_id, "attempt": attempt, "done": done,
                                        "total": total, "message": message}).fetchone()
    return None if row is None else bool(row[0])


def finish(connection: Connection[Any], job_id: Any, attempt: int, outcome: Outcome, *,
           result: Mapping[str, Any] | None = None, error: Mapping[str, Any] | None = None) -> JobRow | None:
    row = connection.execute(FINISH[outcome], {
        "now": utcnow(), "key": job_id, "attempt": attempt, "result": _json(result), "error": _json(error),
        "attempt_error": _json(error if outcome is not SUCCEEDED else None), "final_message": None}).fetchone()
    return None if row is None else _job_row(row)
