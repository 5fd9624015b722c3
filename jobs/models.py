"""Job, JobAttempt and OutboxMessage: the job platform's tables."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Union

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jobs.db import Base, UTCDateTime, utcnow
from jobs.states import AttemptOutcome, JobState

JSONType = JSON().with_variant(JSONB(), "postgresql")


class Job(Base):
    """One unit of background work; the row is the source of truth for its state."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_created", "created_at", "id"),
        Index("ix_jobs_caused_by", "caused_by"),
        Index("ix_jobs_state_created", "state", "created_at"),
        Index("ix_jobs_kind_created", "kind", "created_at"),
        Index("uq_jobs_idempotency", "kind", "idempotency_key", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED)
    queue: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    progress_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_lost: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    submitted_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # A child job reports to its parent when it finishes; the parent ends when all its children have.
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("jobs.id", ondelete="SET NULL"), nullable=True, index=True)
    # A job started by a subscriber of another job's event (the invoice's email): that job.
    caused_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("jobs.id", ondelete="SET NULL", name="fk_jobs_caused_by"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    attempt_history: Mapped[list[JobAttempt]] = relationship(
        back_populates="job", order_by="JobAttempt.number", cascade="all, delete-orphan"
    )
    audit_trail: Mapped[list[JobAuditEntry]] = relationship(
        back_populates="job", order_by="JobAuditEntry.id", cascade="all, delete-orphan"
    )

    @property
    def job_state(self) -> JobState:
        return JobState(self.state)


class JobAttempt(Base):
    """One execution of a job by a worker, with how it ended."""

    __tablename__ = "job_attempts"

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), default=AttemptOutcome.RUNNING)
    worker: Mapped[str | None] = mapped_column(String(255), nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    job: Mapped[Job] = relationship(back_populates="attempt_history")


class JobAuditEntry(Base):
    """Who did what to a job: submitted, cancelled, retried or replayed it."""

    __tablename__ = "job_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # How the actor was authenticated: "session", "token:<name>" or "cli".
    via: Mapped[str | None] = mapped_column(String(128), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    job: Mapped[Job] = relationship(back_populates="audit_trail")


@dataclass(frozen=True, slots=True)
class SubmittedJob:
    """A job as it was just written (jobs.enqueue): a value holding its columns, not an object of a session."""

    id: uuid.UUID
    kind: str
    state: str
    queue: str
    params: dict[str, Any]
    progress_done: int
    progress_total: int | None
    progress_message: str | None
    attempts: int
    worker_lost: int
    cancel_requested: bool
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    idempotency_key: str | None
    submitted_by: str | None
    parent_id: uuid.UUID | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


# A job read from the database or one just written: what callers of submit_job may get back.
AnyJob = Union["Job", SubmittedJob]


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """What publishing needs of an outbox row (a value)."""

    id: int
    job_id: uuid.UUID
    task_name: str
    queue: str
    event: dict[str, Any] | None = None  # a domain event's CloudEvent (jobs/events.py); None for a task message


class OutboxMessage(Base):
    """A task message written with its job in one transaction, or a domain event written with the change it
    reports; published after the commit."""

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_pending", "sent_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    task_name: Mapped[str] = mapped_column(String(128))
    queue: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    publish_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # A domain event (jobs/events.py): its CloudEvent, published to the `events` exchange with its type
    # (task_name) as the routing key. NULL for a task message.
    event: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
