"""Real worker and relay processes started by tests, with the ways a test can kill them."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

import psutil

from config.settings import PROJECT_ROOT


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.1, what: str = "condition") -> object:
    """Poll `predicate` until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class ManagedProcess:
    """A subprocess in its own process group, logging to a file."""

    def __init__(self, args: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.args = args
        self.env = dict(env)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.args, cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        return self

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill_all(self) -> None:
        """SIGKILL the whole process group, as when a machine or container dies."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 15) -> None:
        if not self.process or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_all()


class CeleryWorker(ManagedProcess):
    """`celery worker` as operators run it, on the test's vhost and database."""

    def __init__(self, env: Mapping[str, str], log_dir: Path, queues: str = "diagnostics",
                 concurrency: int = 2) -> None:
        self.node = f"test-{uuid.uuid4().hex[:8]}@%h"
        args = [
            sys.executable, "-m", "celery", "-A", "tasks.worker", "worker", "-Q", queues, "-c", str(concurrency),
            "-n", self.node, "-l", "INFO", "--without-gossip", "--without-mingle",
        ]
        super().__init__(args, env, log_dir / f"worker-{uuid.uuid4().hex[:6]}.log")

    def start(self, ready_timeout: float = 60) -> CeleryWorker:
        super().start()
        wait_for(lambda: " ready." in self.log_text() or self._died(), ready_timeout, what="the worker to be ready")
        if self._died():
            raise AssertionError(f"worker exited during start-up:\n{self.log_text()[-3000:]}")
        return self

    def _died(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def pool_children(self) -> list[psutil.Process]:
        return psutil.Process(self.pid).children()


class Notifier(ManagedProcess):
    """The notification service (`python -m tasks.notifier`): starts an email job per `invoice.issued`."""

    def __init__(self, env: Mapping[str, str], log_dir: Path) -> None:
        log_path = log_dir / f"notifier-{uuid.uuid4().hex[:6]}.log"
        super().__init__([sys.executable, "-m", "tasks.notifier"], env, log_path)

    def start(self, ready_timeout: float = 60) -> Notifier:
        super().start()
        wait_for(lambda: "subscribed to" in self.log_text() or self._died(), ready_timeout,
                 what="the notifier to subscribe")
        if self._died():
            raise AssertionError(f"notifier exited during start-up:\n{self.log_text()[-3000:]}")
        return self

    def _died(self) -> bool:
        return self.process is not None and self.process.poll() is not None


class WorkerSlot:
    """One `celery worker` for a test module's queues: a test may kill it, and the next test gets a new one."""

    def __init__(self, env: Mapping[str, str], log_dir: Path, queues: str, concurrency: int) -> None:
        self.env, self.log_dir, self.queues, self.concurrency = dict(env), log_dir, queues, concurrency
        self.current: CeleryWorker | None = None

    def ensure(self) -> CeleryWorker:
        if self.current is None or self.current._died():
            self.current = CeleryWorker(self.env, self.log_dir, queues=self.queues,
                                        concurrency=self.concurrency).start()
        return self.current

    def stop(self) -> None:
        if self.current is not None:
            self.current.stop()
