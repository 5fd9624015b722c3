"""Fixtures: a stack per database backend (own database, own RabbitMQ vhost, migrated), workers, the app."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from config.settings import PROJECT_ROOT, Settings, load_settings
from jobs.db import Database
from tests.support.accounts import Account, make_account, token_client
from tests.support.processes import CeleryWorker, ManagedProcess
from tests.support.services import postgres_database, rabbit_vhost
from webapp import create_app
from webapp.commands import upgrade_database

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / uuid.uuid4().hex[:8]

# Short limits so that the scenarios run in seconds; the values are what the tests reason about.
TEST_ENVIRONMENT = {
    "APP_ENV": "test",
    "SECRET_KEY": uuid.uuid4().hex * 2,
    # Scenario tests submit many jobs quickly; the rate-limit tests set their own small limits.
    "SUBMIT_RATE_LIMIT_PER_TOKEN": "100000 per minute",
    "SUBMIT_RATE_LIMIT_PER_USER": "100000 per minute",
    "JOB_MAX_RETRIES": "2",
    "RETRY_BACKOFF_BASE_S": "1",
    "MAX_WORKER_LOST": "3",
    "DIAGNOSTICS_TIME_LIMIT_S": "6",
    "TIME_LIMIT_GRACE_S": "3",
    "RELAY_GRACE_S": "0",
    "RELAY_POLL_INTERVAL_S": "0.2",
    "RELAY_MAX_BACKOFF_S": "1",
    "BROKER_OUTAGE_COOLDOWN_S": "0",
}


@dataclass
class Stack:
    """One database backend with its own broker vhost, and what runs on them."""

    backend: str
    env: dict[str, str]
    settings: Settings
    db: Database
    log_dir: Path
    worker: CeleryWorker | None = None

    @property
    def broker_url(self) -> str:
        return self.settings.broker_url

    def start_worker(self) -> CeleryWorker:
        self.worker = CeleryWorker(self.env, self.log_dir).start()
        return self.worker

    def ensure_worker(self) -> CeleryWorker:
        if self.worker is None or self.worker._died():
            self.start_worker()
        assert self.worker is not None
        return self.worker

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def process(self, args: list[str], name: str, **overrides: str) -> ManagedProcess:
        return ManagedProcess(args, {**self.env, **overrides}, self.log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log")

    def app(self, **overrides: object) -> Flask:
        return create_app(load_settings(self.env, **overrides))

    def account(self, role: str) -> Account:
        return make_account(self.db, role)

    def client(self, app: Flask, role: str = "admin") -> FlaskClient:
        """A client of `app` acting through the API token of a new user with `role`."""
        return token_client(app, self.account(role).token)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    backend = request.param
    with rabbit_vhost() as broker_url:
        var_dir = tmp_path_factory.mktemp(f"var-{backend}")
        if backend == "sqlite":
            database_url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'jobs.db'}"
            yield from _stack(backend, database_url, broker_url, var_dir)
        else:
            with postgres_database() as database_url:
                yield from _stack(backend, database_url, broker_url, var_dir)


def _stack(backend: str, database_url: str, broker_url: str, var_dir: Path) -> Iterator[Stack]:
    env = {**os.environ, **TEST_ENVIRONMENT, "DATABASE_URL": database_url, "BROKER_URL": broker_url,
           "VAR_DIR": str(var_dir)}
    settings = load_settings(env)
    upgrade_database(settings)
    db = Database(settings.resolved_database_url)
    stack = Stack(backend, env, settings, db, ARTIFACTS / backend)
    try:
        yield stack
    finally:
        stack.stop_worker()
        db.dispose()


@pytest.fixture(scope="session")
def app(stack: Stack) -> Flask:
    return stack.app()


@pytest.fixture(scope="session")
def operator(stack: Stack) -> Account:
    return stack.account("operator")


@pytest.fixture
def client(app: Flask, operator: Account) -> FlaskClient:
    """A program calling the API with an operator's token (may submit, cancel and retry)."""
    return token_client(app, operator.token)


@pytest.fixture
def worker(stack: Stack) -> CeleryWorker:
    return stack.ensure_worker()
