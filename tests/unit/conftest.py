"""Unit-test fixtures: a fresh, migrated SQLite database per test (no broker)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import load_settings
from jobs.db import Database
from webapp.commands import upgrade_database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    settings = load_settings({}, database_url=f"sqlite:///{tmp_path}/x.db")
    upgrade_database(settings)
    database = Database(settings.resolved_database_url)
    yield database
    database.dispose()
