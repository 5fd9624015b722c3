"""What a running job's code sees: its params, its attempt, and a way to report progress."""
from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from jobs import lifecycle
from jobs.db import Database
from jobs.models import OutboxMessage


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


@dataclass
class JobContext:
    db: Database
    job_id: uuid.UUID
    attempt: int
    params: dict[str, Any] = field(default_factory=dict)
    # Publishes the outbox messages of jobs this job started, after their commit (the relay is the fallback).
    publish: Callable[[Sequence[OutboxMessage]], object] = lambda _messages: None

    def progress(self, done: int, total: int | None = None, message: str | None = None) -> None:
        """Store progress (a checkpoint); raise JobCancelled if a cancel was requested."""
        with self.db.transaction() as session:
            cancel_requested = lifecycle.record_progress(session, self.job_id, self.attempt, done, total, message)
        if cancel_requested:
            raise JobCancelled(f"cancel requested; stopped at {done}" + (f" of {total}" if total else ""))
