"""What every benchmark shares: a throwaway stack (RabbitMQ vhost, database, migrations, an API token)
and a description of the machine and the versions measured.

Nothing here runs at import time; `bench_stack()` makes the resources and removes them on exit.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.settings import Settings, load_settings
from jobs.db import Database
from tests.support.accounts import make_account
from tests.support.services import postgres_database, rabbit_vhost
from webapp.commands import upgrade_database

# Benchmarks submit far faster than a person would: the submit rate limits are lifted, nothing else.
BENCH_ENVIRONMENT = {
    "SUBMIT_RATE_LIMIT_PER_TOKEN": "10000000 per minute",
    "SUBMIT_RATE_LIMIT_PER_USER": "10000000 per minute",
}


@contextmanager
def database(backend: str, scratch: Path, prefix: str = "bench") -> Iterator[str]:
    """A fresh database URL: a file under `scratch` for SQLite, a new PostgreSQL database (dropped after)."""
    if backend == "sqlite":
        yield f"sqlite:///{scratch / f'{prefix}-{uuid.uuid4().hex[:6]}.db'}"
    else:
        with postgres_database(prefix.replace("-", "_")) as url:
            yield url


@dataclass
class BenchStack:
    """A migrated database on its own vhost, the environment that points processes at them, and an operator token."""

    backend: str
    env: dict[str, str]
    settings: Settings
    db: Database
    log_dir: Path
    token: str

    @property
    def broker_url(self) -> str:
        return self.settings.broker_url

    @property
    def database_url(self) -> str:
        return self.settings.resolved_database_url


@contextmanager
def bench_stack(name: str, backend: str, scratch: Path,
                extra_env: Mapping[str, str] | None = None) -> Iterator[BenchStack]:
    """Vhost `<name>-…`, database, migrations, an operator account; all removed when the block ends."""
    with rabbit_vhost(name) as broker_url, database(backend, scratch, name) as url:
        var_dir = scratch / f"var-{name}-{backend}"
        env = {**os.environ, "APP_ENV": "development", "DATABASE_URL": url, "BROKER_URL": broker_url,
               "VAR_DIR": str(var_dir), **BENCH_ENVIRONMENT, **(extra_env or {})}
        settings = load_settings(env)
        upgrade_database(settings)
        db = Database(settings.resolved_database_url)
        try:
            token = make_account(db, "operator").token
            yield BenchStack(backend, env, settings, db, scratch / "logs", token)
        finally:
            db.dispose()


def _command_version(args: list[str]) -> str:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return out.splitlines()[0] if out else "?"


def machine_description() -> dict[str, str]:
    """The machine and the versions a figure was measured with."""
    return {
        "cpu": f"{psutil.cpu_count()} cores ({platform.processor() or platform.machine()})",
        "memory": f"{round(psutil.virtual_memory().total / 2**30)} GiB",
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "packages": ", ".join(f"{name} {version(name)}" for name in
                              ("celery", "kombu", "amqp", "flask", "gunicorn", "sqlalchemy", "psycopg")),
        "rabbitmq": _command_version(["rabbitmqctl", "version"]),
        "postgresql": _command_version(["psql", "-V"]),
        "wrk": _command_version(["wrk", "-v"]),
    }
