"""Database engine, sessions and the column types shared by every model."""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Connection, DateTime, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

log = logging.getLogger("jobs.db")

SQLITE_BUSY_TIMEOUT_MS = 15_000
# A pooled connection unused for longer is pinged before it is handed out (a busy one never is; see below).
IDLE_PING_S = 2.0


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


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Ping a connection that sat idle in the pool, so one killed meanwhile (a database restart) is replaced.

    Not pool_pre_ping: that is a round trip before every checkout, a tenth of a status request. A
    connection in steady use is not pinged; if it died under load, its first statement fails, the
    pool is invalidated (every older connection is replaced at its next checkout), and the request
    answers 503 (webapp.errors) or the job waits for the database (tasks.base).
    """
    checked_in_at = record.info.get("checked_in_at")
    if checked_in_at is None or time.monotonic() - checked_in_at < IDLE_PING_S:
        return  # a connection just made, or one in steady use
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:
        raise DisconnectionError(f"idle connection found dead: {error}") from error
    finally:
        if not dbapi_connection.closed and dbapi_connection.info.transaction_status != 0:
            dbapi_connection.rollback()  # the ping's implicit transaction


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """An Engine for `url`; SQLite gets WAL mode, a busy timeout and write-locking transactions."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(url, **kwargs)
        event.listen(engine, "checkin", _note_checkin)
        event.listen(engine, "checkout", _ping_if_idle)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
    event.listen(engine, "connect", _configure_sqlite)
    # pysqlite's own transaction handling is switched off so that BEGIN IMMEDIATE is ours to emit.
    event.listen(engine, "connect", lambda dbapi_conn, _rec: setattr(dbapi_conn, "isolation_level", None))
    event.listen(engine, "begin", _begin)
    return engine


class HotConnection(threading.local):
    """A thread's own psycopg connection in autocommit, made on first use (and again after a fork or a failure)."""

    connection: psycopg.Connection[Any] | None = None
    pid: int | None = None
    last_used: float = 0.0


# session.info key: outbox rows (events) written in the transaction, handed to `after_commit` once it commits.
AFTER_COMMIT = "outbox_after_commit"


class Database:
    """An engine and its session factory, created lazily and again after a fork.

    `after_commit`, when a process sets it (a worker sets its fast-path publisher), receives the outbox
    rows that a transaction listed under AFTER_COMMIT, once it has committed; without it the relay
    publishes them.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.after_commit: Callable[[Sequence[Any]], object] | None = None
        self.is_postgresql = make_url(url).get_backend_name() == "postgresql"
        self._hot = HotConnection()
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
        with self.session() as session:
            with session.begin():
                yield session
            pending = session.info.pop(AFTER_COMMIT, None)
        if pending and self.after_commit is not None:
            self.after_commit(pending)

    @contextmanager
    def statement(self) -> Iterator[Connection]:
        """A connection for work that is one statement, a transaction by itself.

        On PostgreSQL it runs in autocommit: one round trip, where a transaction costs three (BEGIN,
        the statement, COMMIT). A single statement is atomic either way. On SQLite, where a round
        trip costs nothing and the write lock is taken at BEGIN, it is a transaction of its own.
        """
        with self._autocommit() if self.is_postgresql else self.engine.begin() as connection:
            yield connection

    @contextmanager
    def reader(self) -> Iterator[Connection]:
        """A connection for reads (Core): on PostgreSQL in autocommit (no BEGIN and ROLLBACK round trips)."""
        with (self._autocommit() if self.is_postgresql
              else self.engine.execution_options(readonly=True).connect()) as connection:
            yield connection

    def _autocommit(self) -> Connection:
        return self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    @contextmanager
    def hot(self) -> Iterator[psycopg.Connection[Any]]:
        """This thread's own psycopg connection in autocommit (PostgreSQL only), for one-statement work.

        No pool checkout and no SQLAlchemy layer: the worker's hot transitions (jobs.hot_sql). A
        connection idle for IDLE_PING_S is pinged first; a failed statement drops the connection (the
        next use reconnects) and raises SQLAlchemy's wrapper of the error, as the engine would.
        """
        hot = self._hot
        if hot.connection is not None and (hot.pid != os.getpid() or hot.connection.closed):
            hot.connection = None  # never use a connection across a fork
        if hot.connection is not None and time.monotonic() - hot.last_used > IDLE_PING_S:
            try:
                hot.connection.execute("SELECT 1")
            except psycopg.Error:
                self._drop_hot()
        try:
            if hot.connection is None:
                conninfo = make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)
                hot.connection = psycopg.connect(conninfo, autocommit=True)
                hot.pid = os.getpid()
            yield hot.connection
        except psycopg.Error as error:
            if isinstance(error, psycopg.OperationalError) or hot.connection is None or hot.connection.broken:
                self._drop_hot()
            raise DBAPIError.instance(None, None, error, psycopg.Error) from error
        finally:
            hot.last_used = time.monotonic()

    def _drop_hot(self) -> None:
        connection, self._hot.connection = self._hot.connection, None
        if connection is not None and self._hot.pid == os.getpid():
            try:
                connection.close()
            except psycopg.Error:
                log.debug("closing a broken connection failed", exc_info=True)

    def dispose(self) -> None:
        if self._engine is not None and self._pid == os.getpid():
            self._engine.dispose()
        self._drop_hot()
        self._engine = None
        self._sessions = self._readers = None
