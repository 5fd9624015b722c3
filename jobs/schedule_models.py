"""Recurring jobs as data: a schedule, one row per period it has dealt with (jobs/scheduler.py), and
its audit trail."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from jobs.db import Base, UTCDateTime, utcnow
from jobs.models import JSONType


class Schedule(Base):
    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    rule: Mapped[str] = mapped_column(String(100))  # a 5-field cron expression or "every N seconds|minutes"
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    overlap: Mapped[str] = mapped_column(String(8), default="skip")  # skip | allow
    catch_up: Mapped[str] = mapped_column(String(8), default="latest")  # latest | none
    deadline_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Periods after this instant are due (with the last recorded run's): set at creation, on resume
    # and when the rule or zone changes, so none of them makes the schedule catch up on its past.
    counts_from: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScheduleRun(Base):
    """A period of a schedule: submitted (with its job), or skipped / expired with the reason.

    Unique on (schedule, period): two schedulers that compute the same period cannot both submit it.
    """

    __tablename__ = "schedule_runs"
    __table_args__ = (UniqueConstraint("schedule_id", "period_start", name="uq_schedule_runs_period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(16))  # submitted | skipped | expired
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    job_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("jobs.id", ondelete="SET NULL"),
                                                     nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScheduleAuditEntry(Base):
    """Who did what to a schedule: created, changed (with the fields), paused, resumed, ran it now, deleted.

    Kept without a foreign key, with the schedule's name, so the entries outlive a deleted schedule.
    """

    __tablename__ = "schedule_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    schedule_id: Mapped[int] = mapped_column(Integer, index=True)
    schedule_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    actor: Mapped[str | None] = mapped_column(String(255), nullable=True)
    via: Mapped[str | None] = mapped_column(String(128), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
