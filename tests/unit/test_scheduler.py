"""The scheduler on SQLite and PostgreSQL: each period once, catch-up, deadline, overlap, pause."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from jobs import scheduler
from jobs.db import Database
from jobs.models import Job
from jobs.schedule_models import Schedule, ScheduleRun

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


def schedule(db: Database, created: datetime, **fields: Any) -> int:
    values = {"name": f"s{created.timestamp()}-{fields}", "kind": "diagnostics.noop", "params": {},
              "rule": "every 60 seconds", "timezone": "UTC", "enabled": True, "overlap": "allow",
              "catch_up": "latest", "deadline_s": None} | fields
    with db.transaction() as session:
        row = Schedule(**values, created_at=created, counts_from=created)
        session.add(row)
        session.flush()
        return row.id


def runs(db: Database, schedule_id: int) -> list[tuple[str, str]]:
    with db.read_session() as session:
        return [(run.period_start.isoformat(), run.outcome) for run in session.scalars(
            select(ScheduleRun).where(ScheduleRun.schedule_id == schedule_id).order_by(ScheduleRun.period_start))]


def jobs(db: Database) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(Job)) or 0


def test_each_period_is_submitted_once_however_many_schedulers_tick(any_db: Database) -> None:
    sid = schedule(any_db, NOW - timedelta(seconds=30))
    assert len(scheduler.tick(any_db, None, NOW + timedelta(seconds=1)).submitted) == 1
    assert scheduler.tick(any_db, None, NOW + timedelta(seconds=2)).submitted == []  # the same period again
    other = Database(any_db.url)  # a second scheduler, with connections of its own
    try:
        assert scheduler.tick(other, None, NOW + timedelta(seconds=3)).submitted == []
    finally:
        other.dispose()
    assert scheduler.tick(any_db, None, NOW + timedelta(seconds=61)).submitted != []  # the next period
    assert runs(any_db, sid) == [(NOW.isoformat(), "submitted"),
                                 ((NOW + timedelta(minutes=1)).isoformat(), "submitted")]
    assert jobs(any_db) == 2


def test_after_a_downtime_the_latest_period_runs_once_and_the_older_are_skipped(any_db: Database) -> None:
    sid = schedule(any_db, NOW - timedelta(minutes=10, seconds=30))
    outcome = scheduler.tick(any_db, None, NOW + timedelta(minutes=5))  # down for 15 minutes
    assert len(outcome.submitted) == 1 and outcome.skipped == 15  # 11:50 … 12:04 skipped, 12:05 runs
    recorded = runs(any_db, sid)
    assert [o for _p, o in recorded] == ["skipped"] * 15 + ["submitted"]
    assert jobs(any_db) == 1


def test_catch_up_none_skips_a_late_period_and_a_deadline_expires_it(any_db: Database) -> None:
    # Every 10 minutes; the scheduler comes back at 12:05, five minutes after the 12:00 period.
    none = schedule(any_db, NOW - timedelta(minutes=35), rule="every 10 minutes", catch_up="none")
    deadline = schedule(any_db, NOW - timedelta(minutes=35), rule="every 10 minutes", deadline_s=30)
    outcome = scheduler.tick(any_db, None, NOW + timedelta(minutes=5))
    assert outcome.submitted == [] and outcome.expired == 1
    assert runs(any_db, none)[-1][1] == "skipped" and runs(any_db, deadline)[-1][1] == "expired"
    assert jobs(any_db) == 0


def test_overlap_skip_waits_for_the_previous_job_and_a_paused_schedule_sends_nothing(any_db: Database) -> None:
    sid = schedule(any_db, NOW - timedelta(seconds=30), overlap="skip")
    paused = schedule(any_db, NOW - timedelta(seconds=30), enabled=False)
    assert len(scheduler.tick(any_db, None, NOW + timedelta(seconds=1)).submitted) == 1
    outcome = scheduler.tick(any_db, None, NOW + timedelta(seconds=61))  # the first job is still queued
    assert outcome.submitted == [] and runs(any_db, sid)[-1][1] == "skipped"
    assert runs(any_db, paused) == []
    with any_db.transaction() as session:
        for job in session.scalars(select(Job)):
            job.state = "succeeded"
    assert len(scheduler.tick(any_db, None, NOW + timedelta(seconds=121)).submitted) == 1


def test_a_monthly_batch_bills_the_previous_month_of_its_zone(any_db: Database) -> None:
    # 1 March 2028 02:00 Madrid is 01:00 UTC; 2028 is a leap year.
    first_of_march = datetime(2028, 3, 1, 1, 0, tzinfo=UTC)
    schedule(any_db, first_of_march - timedelta(days=1), name="monthly", kind="invoice.batch", rule="0 2 1 * *",
             timezone="Europe/Madrid", params={"period_start": "${previous_month_start}",
                                               "period_end": "${previous_month_end}", "note": "$$5 ${period_date}"})
    assert len(scheduler.tick(any_db, None, first_of_march + timedelta(seconds=5)).submitted) == 1
    with any_db.read_session() as session:
        job = session.scalars(select(Job)).one()
        assert (job.kind, job.params) == ("invoice.batch", {"period_start": "2028-02-01", "period_end": "2028-02-29",
                                                            "note": "$5 2028-03-01"})
        assert job.submitted_by == "schedule monthly"


def test_a_schedule_counts_its_periods_from_when_it_was_resumed_or_its_rule_changed(any_db: Database) -> None:
    sid = schedule(any_db, NOW - timedelta(hours=1))
    with any_db.transaction() as session:  # as POST …/resume and PATCH do
        row = session.get(Schedule, sid)
        assert row is not None
        row.counts_from = NOW - timedelta(seconds=30)
    outcome = scheduler.tick(any_db, None, NOW + timedelta(seconds=1))
    assert len(outcome.submitted) == 1 and outcome.skipped == 0  # nothing of the hour before is owed
    assert runs(any_db, sid) == [(NOW.isoformat(), "submitted")]


def test_the_migrations_ship_the_monthly_invoice_schedule_switched_off(db: Database) -> None:
    with db.read_session() as session:
        ready = session.scalars(select(Schedule).where(Schedule.name == "monthly-invoices")).one()
        assert (ready.kind, ready.rule, ready.timezone, ready.enabled) == (
            "invoice.batch", "0 2 1 * *", "Europe/Madrid", False)
    assert scheduler.tick(db, None, datetime.now(UTC) + timedelta(days=62)).submitted == []  # off until enabled


def test_a_clock_that_jumps_back_or_forward_neither_doubles_nor_bursts_periods(any_db: Database) -> None:
    sid = schedule(any_db, NOW - timedelta(seconds=30))
    assert len(scheduler.tick(any_db, None, NOW + timedelta(seconds=61)).submitted) == 1  # 12:01 (12:00 skipped)
    assert scheduler.tick(any_db, None, NOW + timedelta(seconds=1)).submitted == []  # back to 12:00:01: nothing again
    outcome = scheduler.tick(any_db, None, NOW + timedelta(minutes=10, seconds=1))  # forward ten minutes
    assert len(outcome.submitted) == 1 and outcome.skipped == 8  # 12:02 … 12:09 skipped, 12:10 runs
    starts = [period for period, _outcome in runs(any_db, sid)]
    assert len(starts) == len(set(starts)) == 11 and jobs(any_db) == 2
