"""The worker's hot transitions on PostgreSQL, as SQL sent by psycopg on the process's own connection.

Each is one statement in autocommit (its own transaction: one round trip), the guard in its WHERE
clause, the attempt row written in the same statement by a data-modifying CTE. The statements are
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
from jobs.transitions import FAILED, RETRYING, SUCCEEDED, Claimed, JobRow, Outcome, claimable

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
        extra += ", result = %(result)s, progress_done = coalesce(progress_total, progress_done)"
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


FINISH = {outcome: _finish_sql(outcome) for outcome in (SUCCEEDED, FAILED, RETRYING)}


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
        "attempt_error": _json(error if outcome is not SUCCEEDED else None)}).fetchone()
    return None if row is None else _job_row(row)
