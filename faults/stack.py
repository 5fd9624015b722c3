"""The application as deployed, read from the Procfile, on the suite's services.

Every Procfile line runs except `beat` and `flower` (the workload needs neither): gunicorn, each
`celery worker` (started as the tests start one, CeleryWorker, with the line's queues and pool size),
the relay and any other service. Each can be killed, stopped and started again by a scenario;
`heal` brings back whatever a scenario left down.
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from config.settings import PROJECT_ROOT, load_settings
from jobs.db import Database
from tests.support.accounts import make_account
from tests.support.live_app import VENV_BIN, answers, free_port
from tests.support.processes import CeleryWorker, ManagedProcess, wait_for
from webapp.commands import upgrade_database

# Short limits so that a fault's recovery fits in seconds; the rest are the shipped defaults.
FAULTS_ENVIRONMENT = {
    "APP_ENV": "test",
    "SUBMIT_RATE_LIMIT_PER_TOKEN": "1000000 per minute",
    "SUBMIT_RATE_LIMIT_PER_USER": "1000000 per minute",
    "JOB_MAX_RETRIES": "8",
    "RETRY_BACKOFF_BASE_S": "1",
    "RETRY_BACKOFF_MAX_S": "4",
    "MAX_WORKER_LOST": "3",
    "RELAY_GRACE_S": "1",
    "RELAY_POLL_INTERVAL_S": "0.3",
    "RELAY_MAX_BACKOFF_S": "2",
    "BROKER_OUTAGE_COOLDOWN_S": "2",
    "ETL_CHUNK_ROWS": "5000",
    "SMTP_TIMEOUT_S": "5",
    "LOG_LEVEL": "INFO",
}

NOT_STARTED = ("beat", "flower")


def procfile(path: Path = PROJECT_ROOT / "Procfile") -> dict[str, str]:
    """The Procfile's lines: name -> command."""
    lines = (line.partition(":") for line in path.read_text().splitlines() if line.strip() and line[0] != "#")
    return {name.strip(): command.strip() for name, _colon, command in lines}


def procfile_workers(lines: dict[str, str]) -> dict[str, tuple[str, int]]:
    """`worker-<name>` lines: name -> (queues, pool size)."""
    found = {}
    for name, command in lines.items():
        queues, pool = re.search(r"-Q\s+(\S+)", command), re.search(r"-c\s+(\d+)", command)
        if name.startswith("worker-") and queues:
            found[name.removeprefix("worker-")] = (queues[1], int(pool[1]) if pool else 1)
    return found


def procfile_services(lines: dict[str, str]) -> dict[str, str]:
    """The other lines the suite starts (the relay, and whatever service the Procfile adds)."""
    return {name: command for name, command in lines.items()
            if name != "web" and not name.startswith("worker-") and name not in NOT_STARTED}


@dataclass
class AppStack:
    """The app's processes on one database and broker; `token` is an operator's API token."""

    env: dict[str, str]
    log_dir: Path
    web_port: int = field(default_factory=free_port)
    web: ManagedProcess | None = None
    services: dict[str, ManagedProcess] = field(default_factory=dict)
    workers: dict[str, CeleryWorker] = field(default_factory=dict)
    worker_lines: dict[str, tuple[str, int]] = field(default_factory=lambda: procfile_workers(procfile()))
    service_lines: dict[str, str] = field(default_factory=lambda: procfile_services(procfile()))
    orphans: list[int] = field(default_factory=list)
    token: str = ""

    @classmethod
    def prepare(cls, *, database_url: str, broker_url: str, management_url: str, var_dir: Path, smtp_port: int,
                log_dir: Path) -> AppStack:
        """Migrate the database and make an operator; nothing is started yet."""
        env = {**os.environ, **FAULTS_ENVIRONMENT, "SECRET_KEY": uuid.uuid4().hex * 2, "DATABASE_URL": database_url,
               "BROKER_URL": broker_url, "BROKER_MANAGEMENT_URL": management_url, "VAR_DIR": str(var_dir),
               "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port)}
        settings = load_settings(env)
        upgrade_database(settings)
        db = Database(settings.resolved_database_url)
        try:
            token = make_account(db, "operator").token
        finally:
            db.dispose()
        stack = cls(env, log_dir, token=token)
        stack.env.update({"WEB_HOST": "127.0.0.1", "WEB_PORT": str(stack.web_port)})
        return stack

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start_web(self) -> None:
        self.web = ManagedProcess(
            [str(VENV_BIN / "gunicorn"), "-c", "config/gunicorn.conf.py", "webapp:create_app()"],
            self.env, self.log_dir / f"web-{uuid.uuid4().hex[:4]}.log").start()
        wait_for(lambda: answers(self.url + "/healthz"), 60, what="gunicorn to answer")

    @property
    def relay(self) -> ManagedProcess | None:
        return self.services.get("relay")

    def start_service(self, name: str) -> ManagedProcess:
        """A Procfile line as written (exec'd by sh, so the pid is the service's own)."""
        self.services[name] = ManagedProcess(["sh", "-c", "exec " + self.service_lines[name]], self.env,
                                             self.log_dir / f"{name}-{uuid.uuid4().hex[:4]}.log").start()
        return self.services[name]

    def start_relay(self) -> None:
        self.start_service("relay")

    def start_worker(self, name: str) -> CeleryWorker:
        queues, concurrency = self.worker_lines[name]
        self.workers[name] = CeleryWorker(self.env, self.log_dir, queues=queues, concurrency=concurrency).start()
        return self.workers[name]

    def heal(self) -> list[str]:
        """Start whatever is not running; kill orphaned pool processes of killed workers; say what was started."""
        started = []
        if self.web is None or not _alive(self.web):
            self.start_web()
            started.append("web")
        for name in self.service_lines:
            if name not in self.services or not _alive(self.services[name]):
                self.start_service(name)
                started.append(name)
        for name in self.worker_lines:
            worker = self.workers.get(name)
            if worker is None or not _alive(worker):
                self.start_worker(name)
                started.append(f"worker-{name}")
        self.reap_orphans()
        return started

    def reap_orphans(self) -> None:
        for pid in self.orphans:
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()
        self.orphans.clear()

    def kill_worker_main(self, name: str) -> int:
        """SIGKILL a worker's main process only (its pool children are left as orphans); return its pid."""
        worker = self.workers[name]
        self.orphans.extend(child.pid for child in worker.pool_children())
        os.kill(worker.pid, signal.SIGKILL)
        assert worker.process is not None
        worker.process.wait(timeout=30)
        return worker.pid

    def busy_children(self, name: str) -> list[psutil.Process]:
        """The worker's pool processes, busiest first (a child running a job uses CPU)."""
        children = self.workers[name].pool_children()
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.cpu_percent(None)
        return children

    def processes(self) -> Iterator[tuple[str, psutil.Process]]:
        """(role, process) for every process of the stack, pool children and gunicorn workers included."""
        named: list[tuple[str, ManagedProcess | None]] = [("web", self.web), *self.services.items()]
        named += [(f"worker-{name}", worker) for name, worker in self.workers.items()]
        for role, managed in named:
            if managed is None or not _alive(managed):
                continue
            with contextlib.suppress(psutil.Error):
                main = psutil.Process(managed.pid)
                yield role, main
                for child in main.children():
                    yield f"{role}-child", child

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop(timeout=30)
        for process in [*self.services.values(), self.web]:
            if process is not None:
                process.stop(timeout=30)
        self.reap_orphans()


def _alive(process: ManagedProcess) -> bool:
    return process.process is not None and process.process.poll() is None
