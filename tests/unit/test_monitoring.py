"""Outbox backlog and job counts on a real (SQLite) database."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from jobs import lifecycle
from jobs.db import Database, utcnow
from jobs.enqueue import submit_job
from jobs.models import OutboxMessage
from jobs.monitoring import OutboxBacklog, job_counts, outbox_backlog


def submit(db: Database, kind: str = "diagnostics.noop", age_s: float = 0.0) -> OutboxMessage:
    with db.transaction() as session:
        _job, message = submit_job(session, kind, {})
    if age_s:
        with db.transaction() as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.id == message.id)
                            .values(created_at=utcnow() - timedelta(seconds=age_s)))
    return message


def mark_sent(db: Database, message: OutboxMessage) -> None:
    with db.transaction() as session:
        session.execute(update(OutboxMessage).where(OutboxMessage.id == message.id).values(sent_at=utcnow()))


def test_an_empty_outbox_has_no_backlog(db: Database) -> None:
    with db.read_session() as session:
        assert outbox_backlog(session) == OutboxBacklog(count=0, oldest_age_s=None)


def test_backlog_counts_unsent_rows_and_ages_the_oldest(db: Database) -> None:
    submit(db, age_s=30)
    oldest_sent = submit(db, age_s=600)
    submit(db)
    mark_sent(db, oldest_sent)  # a sent row neither counts nor sets the age, however old

    with db.read_session() as session:
        backlog = outbox_backlog(session)

    assert backlog.count == 2
    assert backlog.oldest_age_s is not None and 30 <= backlog.oldest_age_s < 300


def test_backlog_is_empty_once_every_row_is_sent(db: Database) -> None:
    mark_sent(db, submit(db, age_s=10))
    with db.read_session() as session:
        assert outbox_backlog(session) == OutboxBacklog(count=0, oldest_age_s=None)


def test_job_counts_group_by_kind_and_state(db: Database) -> None:
    for _ in range(3):
        submit(db, "diagnostics.noop")
    running = submit(db, "diagnostics.sleep")
    submit(db, "diagnostics.sleep")
    with db.transaction() as session:
        lifecycle.begin_attempt(session, running.job_id, redelivered=False, worker="w", max_worker_lost=3)

    with db.read_session() as session:
        counts = job_counts(session)

    assert counts == {
        ("diagnostics.noop", "queued"): 3,
        ("diagnostics.sleep", "queued"): 1,
        ("diagnostics.sleep", "running"): 1,
    }


def test_no_jobs_no_counts(db: Database) -> None:
    with db.read_session() as session:
        assert job_counts(session) == {}
