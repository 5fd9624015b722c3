"""Recurring jobs, each period exactly once, whatever the number of schedulers running.

Every tick, for each enabled schedule, the periods due since its last recorded one are computed
(jobs/schedule_rules.py). The latest is submitted: its run row (unique on schedule and period), its
job and the job's outbox row are written in one transaction, so a second scheduler that computes the
same period hits the unique constraint, rolls back and does nothing. Nothing is elected and no lock
is held between ticks. The job's params are the schedule's with its placeholders filled in for the
period (jobs/schedule_params.py). Older due periods (downtime) are recorded as skipped, never fired in a burst;
with catch_up "none" a late latest period is skipped too; past its deadline it is recorded as expired;
with overlap "skip" it is skipped while the schedule's previous job is unfinished.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jobs.audit import Actor
from jobs.db import Database, utcnow
from jobs.enqueue import submit_job
from jobs.models import Job, OutboxRow
from jobs.publisher import BrokerUnavailable, OutboxPublisher
from jobs.schedule_models import Schedule, ScheduleRun
from jobs.schedule_params import render_params
from jobs.schedule_rules import parse_rule
from jobs.states import JobState

log = logging.getLogger("jobs.scheduler")

# A period this much behind the clock is late (a scheduler was down), not merely noticed a tick late.
LATE_AFTER = timedelta(seconds=60)
FINISHED = [state.value for state in JobState if state.finished]


@dataclass
class TickOutcome:
    submitted: list[OutboxRow] = field(default_factory=list)
    skipped: int = 0
    expired: int = 0


def schedule_actor(name: str) -> Actor:
    """Who submitted a scheduled job, in its audit trail."""
    return Actor(f"schedule {name}", "beat")


def _record(session: Session, schedule_id: int, period: datetime, outcome: str, reason: str | None = None,
            job_id: uuid.UUID | None = None) -> None:
    session.execute(insert(ScheduleRun).values(
        schedule_id=schedule_id, period_start=period, outcome=outcome, reason=reason, job_id=job_id,
        recorded_at=utcnow()))


def tick_schedule(db: Database, schedule_id: int, now: datetime, outcome: TickOutcome) -> None:
    """Deal with one schedule's due periods, in one transaction (a lost race changes nothing)."""
    try:
        with db.transaction() as session:
            schedule = session.get(Schedule, schedule_id)
            if schedule is None or not schedule.enabled:
                return
            last = session.scalar(select(func.max(ScheduleRun.period_start))
                                  .where(ScheduleRun.schedule_id == schedule_id))
            rule = parse_rule(schedule.rule, schedule.timezone)
            due = rule.due(max(last, schedule.counts_from) if last else schedule.counts_from, now)
            if not due:
                return
            *missed, latest = due
            for period in missed:
                _record(session, schedule_id, period, "skipped", "missed while no scheduler ran")
            outcome.skipped += len(missed)
            late = now - latest > LATE_AFTER
            if schedule.deadline_s is not None and now - latest > timedelta(seconds=schedule.deadline_s):
                _record(session, schedule_id, latest, "expired", f"could not start within {schedule.deadline_s} s")
                outcome.expired += 1
                return
            if late and schedule.catch_up == "none":
                _record(session, schedule_id, latest, "skipped", "missed while no scheduler ran (catch_up none)")
                outcome.skipped += 1
                return
            if schedule.overlap == "skip" and _previous_unfinished(session, schedule_id):
                _record(session, schedule_id, latest, "skipped", "the previous run had not finished (overlap skip)")
                outcome.skipped += 1
                return
            params = render_params(schedule.params, latest, rule.zone)
            job, message = submit_job(session, schedule.kind, params, actor=schedule_actor(schedule.name))
            _record(session, schedule_id, latest, "submitted", None, job.id)
            pending = message
        outcome.submitted.append(pending)
        log.info("schedule=%s period=%s job_id=%s submitted", schedule_id, latest.isoformat(), job.id)
    except IntegrityError:
        log.info("schedule=%s: another scheduler recorded this period first", schedule_id)


def _previous_unfinished(session: Session, schedule_id: int) -> bool:
    previous = session.scalar(
        select(Job.state).join(ScheduleRun, ScheduleRun.job_id == Job.id)
        .where(ScheduleRun.schedule_id == schedule_id, ScheduleRun.outcome == "submitted")
        .order_by(ScheduleRun.period_start.desc()).limit(1))
    return previous is not None and previous not in FINISHED


def tick(db: Database, publisher: OutboxPublisher | None, now: datetime | None = None) -> TickOutcome:
    """One pass over every enabled schedule; the new jobs' messages are published after their commits
    (or left to the relay when the broker does not take them)."""
    now = now or utcnow()
    with db.read_session() as session:
        ids = list(session.scalars(select(Schedule.id).where(Schedule.enabled.is_(True)).order_by(Schedule.id)))
    outcome = TickOutcome()
    for schedule_id in ids:
        tick_schedule(db, schedule_id, now, outcome)
    if publisher is not None and outcome.submitted:
        try:
            publisher.mark_sent(publisher.publish(outcome.submitted))
        except BrokerUnavailable as exc:
            log.warning("%d scheduled jobs left to the relay: %s", len(outcome.submitted), exc)
    return outcome
