"""Database engine, sessions and the column types shared by every model."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

SQLITE_BUSY_TIMEOUT_MS = 15_000


class Base(DeclarativeBase):
    """Declarative base of every model."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the web read while a worker writes; the busy timeout makes writers queue instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin(conn: Any) -> None:
    # Writers take SQLite's write lock at BEGIN: a deferred transaction that reads then writes
    # fails with "database is locked" without waiting for the busy timeout. Readers stay deferred.
    readonly = conn.get_execution_options().get("readonly", False)
    conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """An Engine for `url`; SQLite gets WAL mode, a busy timeout and write-locking transactions."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
    event.listen(engine, "connect", _configure_sqlite)
    # pysqlite's own transaction handling is switched off so that BEGIN IMMEDIATE is ours to emit.
    event.listen(engine, "connect", lambda dbapi_conn, _rec: setattr(dbapi_conn, "isolation_level", None))
    event.listen(engine, "begin", _begin)
    return engine


class Database:
    """An engine and its session factory, created lazily and again after a fork."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pid: int | None = None
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._readers: sessionmaker[Session] | None = None

    @property
    def engine(self) -> Engine:
        self._factories()
        assert self._engine is not None
        return self._engine

    def _factories(self) -> tuple[sessionmaker[Session], sessionmaker[Session]]:
        """(writers, readers), built on first use in this process: a pool must never cross a fork."""
        if self._engine is None or self._pid != os.getpid():
            self._engine = create_db_engine(self.url)
            self._sessions = sessionmaker(self._engine, expire_on_commit=False)
            self._readers = sessionmaker(self._engine.execution_options(readonly=True), expire_on_commit=False)
            self._pid = os.getpid()
        assert self._sessions is not None and self._readers is not None
        return self._sessions, self._readers

    def session(self) -> Session:
        """A session for work that writes (on SQLite it takes the write lock when it begins)."""
        return self._factories()[0]()

    def read_session(self) -> Session:
        """A session for reads only; it never waits for SQLite's write lock."""
        return self._factories()[1]()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed on exit, rolled back on error."""
        with self.session() as session, session.begin():
            yield session

    def dispose(self) -> None:
        if self._engine is not None and self._pid == os.getpid():
            self._engine.dispose()
        self._engine = None
        self._sessions = self._readers = None
