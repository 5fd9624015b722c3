"""Unit-test fixtures: a fresh, migrated SQLite database per test (no broker); `any_db` also runs a test on
PostgreSQL (one migrated database for the session, emptied before each test)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from accounts import models as account_models  # noqa: F401 - registers the tables on Base.metadata
from config.settings import load_settings
from etl import models as etl_models  # noqa: F401 - registers the tables on Base.metadata
from invoicing import models as invoice_models  # noqa: F401 - registers the tables on Base.metadata
from jobs import schedule_models  # noqa: F401 - registers the tables on Base.metadata
from jobs.db import Base, Database
from tests.support.services import postgres_database
from webapp.commands import upgrade_database


@contextmanager
def sqlite_database(directory: Path) -> Iterator[Database]:
    settings = load_settings({}, database_url=f"sqlite:///{directory}/x.db")
    upgrade_database(settings)
    database = Database(settings.resolved_database_url)
    yield database
    database.dispose()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with sqlite_database(tmp_path) as database:
        yield database


@pytest.fixture(scope="session")
def postgres_unit_db() -> Iterator[Database]:
    with postgres_database("jobs_unit") as url:
        upgrade_database(load_settings({}, database_url=url))
        database = Database(url)
        yield database
        database.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The test's database on each backend: the hot transitions are different statements on each."""
    if request.param == "sqlite":
        with sqlite_database(tmp_path) as database:
            yield database
        return
    database = request.getfixturevalue("postgres_unit_db")
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with database.transaction() as session:
        session.execute(text(f"TRUNCATE {tables} CASCADE"))
    yield database
