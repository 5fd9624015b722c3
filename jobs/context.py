"""What a running job's code sees: its params and settings, progress checkpoints, follow-up and child jobs.

Job code writes through `ctx.transaction()`: the jobs it starts there (`submit_once`,
`start_children`) and the events it emits (`emit`) are committed with its own writes and
published once the transaction has committed (the outbox relay is the fallback). Every write of
the platform's is fenced by the attempt: a stale copy of the job gets AttemptSuperseded instead of
writing.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from jobs import events, idempotency, lifecycle
from jobs.audit import Actor
from jobs.db import AFTER_COMMIT, Database, utcnow
from jobs.enqueue import submit_job
from jobs.events import EventType
from jobs.kinds import JobKind
from jobs.models import AnyJob, Job, OutboxRow, SubmittedJob


class JobCancelled(Exception):
    """Raised at a progress checkpoint after someone asked the job to stop.

    `result` says what the job had done and kept (say, the rows an import committed) and becomes
    the cancelled job's result; `str(exc)` becomes its progress message.
    """

    def __init__(self, message: str, result: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.result = result


class WaitForChildren(Exception):
    """Raised by a job that has started child jobs: it stays `running` until the last child finishes."""


def _publish_nothing(_messages: Sequence[OutboxRow]) -> object:
    return None


@dataclass
class JobContext:
    db: Database
    job_id: uuid.UUID
    attempt: int
    settings: Settings
    params: dict[str, Any] = field(default_factory=dict)
    # Publishes the outbox messages of jobs this job started, after their commit (the relay is the fallback).
    publish: Callable[[Sequence[OutboxRow]], object] = _publish_nothing
    # Set by complete(): the job's outcome was committed with its last writes; the worker writes no other.
    completed: bool = False

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A transaction for the job's writes; the jobs it starts are published after it commits."""
        with self.db.transaction() as session:
            yield session
            messages: list[OutboxRow] = session.info.pop(AFTER_COMMIT, [])
        if messages:
            self.publish(messages)

    def checkpoint(self, done: int, total: int | None = None, message: str | None = None, *,
                   session: Session | None = None) -> bool:
        """Store progress (in `session`'s transaction, else in its own); return whether a cancel was requested."""
        if session is not None:
            return lifecycle.record_progress(session, self.job_id, self.attempt, done, total, message)
        return lifecycle.progress_checkpoint(self.db, self.job_id, self.attempt, done, total, message)

    def progress(self, done: int, total: int | None = None, message: str | None = None, *,
                 session: Session | None = None) -> None:
        """Store progress (a checkpoint); raise JobCancelled if a cancel was requested."""
        if self.checkpoint(done, total, message, session=session):
            raise JobCancelled(f"cancel requested; stopped at {done}" + (f" of {total}" if total else ""))

    def complete(self, session: Session, result: dict[str, Any], message: str | None = None) -> dict[str, Any]:
        """End the job as succeeded in `session`'s transaction, with the job's last writes: one commit for both,
        and `message` as its last progress message.

        Fenced like any outcome (AttemptSuperseded rolls the transaction back). Return `result` from the
        job function afterwards; the worker then records nothing more.
        """
        lifecycle.succeed(session, self.job_id, self.attempt, result, final_message=message)
        self.completed = True
        return result

    def emit(self, session: Session, kind: EventType, subject: str, data: dict[str, Any]) -> None:
        """Publish a domain event about this job's work, committed with `session`'s transaction (jobs/events.py)."""
        events.emit(session, kind, subject, data, self.job_id)

    def submit_once(self, session: Session, kind: JobKind, params: dict[str, Any], *, key: str) -> AnyJob:
        """Start a follow-up job once: a redelivered attempt finds the job that `key` names instead of a second."""
        job, message = idempotency.submit_once(session, kind, params, key=key, wait=True)
        if message is not None:
            session.info.setdefault(AFTER_COMMIT, []).append(message)
        return job

    def children_started(self, session: Session) -> bool:
        """Whether an earlier attempt of this job started its children already."""
        return session.scalar(select(Job.id).where(Job.parent_id == self.job_id).limit(1)) is not None

    def start_children(self, session: Session, kind: JobKind,
                       params: Sequence[dict[str, Any]]) -> list[SubmittedJob]:
        """Start one child job per params, submitted by this job's submitter; this job then waits for them.

        The parent counts its children as progress; the last child to finish ends it (jobs.lifecycle).
        Raise WaitForChildren once the transaction has committed.
        """
        parent = lifecycle.load_for_update(session, self.job_id)
        actor = Actor(parent.submitted_by, "batch") if parent.submitted_by else None
        children = []
        for child_params in params:
            child, message = submit_job(session, kind, child_params, actor=actor, parent_id=self.job_id)
            session.info.setdefault(AFTER_COMMIT, []).append(message)
            children.append(child)
        parent.progress_total, parent.progress_done = len(children), 0
        parent.progress_message = f"0 of {len(children)} child jobs finished"
        parent.updated_at = utcnow()
        return children
