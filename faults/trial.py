"""One scenario's run: the suite's services and app, the workload under way, and what the fault did when."""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from faults.services import PostgresInstance, RabbitNode, SmtpSink, Tmpfs
from faults.stack import AppStack
from faults.workload import ApiClient, Workload


@dataclass
class Suite:
    """Everything the scenarios act on; made once by faults.run and shared by every scenario."""

    base: Path
    rabbit: RabbitNode
    postgres: PostgresInstance
    database: str
    smtp: SmtpSink
    tmpfs: Tmpfs
    stack: AppStack
    client: ApiClient
    next_order_id: int = 1

    @property
    def dsn(self) -> str:
        return self.postgres.dsn(self.database)

    def rows(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        with psycopg.connect(self.dsn, connect_timeout=5, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def running_attempts(self, queue: str) -> list[tuple[str, str]]:
        """(job id, worker "<node> pid=<pid>") of every attempt running on `queue`."""
        found = self.rows("SELECT j.id::text, a.worker FROM jobs j JOIN job_attempts a ON a.job_id = j.id "
                          "WHERE j.state = 'running' AND a.outcome = 'running' AND j.queue = %s", queue)
        return [(str(job), str(worker)) for job, worker in found]


@dataclass
class Trial:
    """A scenario's own record: when its fault began and was undone, and what it found beyond the checker's rules."""

    suite: Suite
    workload: Workload
    started_at: float = 0.0
    fault_at: float | None = None
    undone_at: float | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def fault(self) -> None:
        if self.fault_at is None:
            self.fault_at = time.time()

    def undone(self) -> None:
        self.undone_at = time.time()

    def expect(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def wait_until(self, predicate: Callable[[], object], timeout: float, what: str) -> bool:
        """Poll `predicate`; False (and a problem recorded) if it never held."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.2)
        self.problems.append(f"timed out after {timeout:.0f} s waiting for {what}")
        return False

    @contextlib.contextmanager
    def faulted(self) -> Iterator[None]:
        """Mark the fault's start on entry and its undoing on exit."""
        self.fault()
        try:
            yield
        finally:
            self.undone()
