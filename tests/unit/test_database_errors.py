"""A job that fails on a database error stores the reason and the column or constraint, never the SQL."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import StatementError

from jobs import lifecycle
from jobs.db import Database
from jobs.enqueue import submit_job
from jobs.models import Job


def failing_statement(db: Database, job_id: uuid.UUID) -> StatementError:
    """A real refusal: a second job row with an id already taken (secret-looking params ride along)."""
    with pytest.raises(StatementError) as raised, db.transaction() as session:
        session.execute(insert(Job).values(id=job_id, kind="diagnostics.sleep", queue="diagnostics",
                                           params={"password": "hunter2-secret"}, state="queued"))
    return raised.value


def test_a_database_error_is_stored_readable_without_sql_or_parameters(any_db: Database) -> None:
    with any_db.transaction() as session:
        job, _message = submit_job(session, "diagnostics.sleep", {"seconds": 0})
    error = failing_statement(any_db, job.id)
    assert "INSERT" in str(error)  # what SQLAlchemy's own message would have shown

    with any_db.transaction() as session:
        lifecycle.begin_attempt(session, job.id, redelivered=False, worker="w", max_worker_lost=3)
        lifecycle.fail(session, job.id, 1, lifecycle.error_info(error))
    with any_db.read_session() as session:
        stored = session.scalars(select(Job).where(Job.id == job.id)).one().error
    assert stored["type"] == "DatabaseError"
    message = stored["message"]
    assert message.startswith("the database refused the job's data:")
    assert "unique" in message.lower() or "duplicate" in message.lower()
    assert "jobs" in message  # the table or constraint it broke
    for leaked in ("INSERT", "VALUES", "hunter2-secret", "%(", "[SQL"):
        assert leaked not in message
