"""Upserting a chunk of valid rows into a dataset's table, counting inserts, updates and unchanged rows.

PostgreSQL: first, optimistically, a COPY straight into the table inside a savepoint: when no key
of the chunk exists yet (a first import), that is the whole load, at raw COPY speed. When the COPY
hits an existing key, the savepoint is rolled back and the chunk goes through a temporary staging
table and one INSERT … ON CONFLICT DO UPDATE whose WHERE skips rows that would not change;
RETURNING (xmax = 0) tells inserts from updates. After such a chunk the loader stops trying the
optimistic path for the rest of the import (a re-import would fail every COPY).
SQLite: one executemany of INSERT … ON CONFLICT DO UPDATE … WHERE; the chunk's keys already in
the table (looked up before, under the write lock the transaction holds) tell updates and
unchanged rows from inserts, and total_changes counts what was written.
Identifiers come from the dataset specs (code, not input).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import polars as pl
import psycopg
from psycopg.errors import UniqueViolation
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from etl.spec import DatasetSpec


@dataclass(frozen=True)
class LoadCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def _assignments(spec: DatasetSpec) -> str:
    return ", ".join(f"{name} = excluded.{name}" for name in spec.value_columns)


def _changed(spec: DatasetSpec, null_safe_distinct: str) -> str:
    return " OR ".join(f"{spec.table}.{name} {null_safe_distinct} excluded.{name}" for name in spec.value_columns)


def _upsert_tail(spec: DatasetSpec, null_safe_distinct: str) -> str:
    if not spec.value_columns:
        return f"ON CONFLICT ({', '.join(spec.key)}) DO NOTHING"
    # A frozen row is never updated, even if it froze after the chunk was checked (etl.frozen_rows).
    unfrozen = f"{spec.table}.{spec.frozen_by} IS NULL AND " if spec.frozen_by else ""
    return (f"ON CONFLICT ({', '.join(spec.key)}) DO UPDATE SET {_assignments(spec)} "
            f"WHERE {unfrozen}({_changed(spec, null_safe_distinct)})")


def _copy(cursor: object, table: str, columns: str, payload: bytes) -> None:
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT csv)") as copy:  # type: ignore[attr-defined]
        copy.write(payload)


def _copy_new_rows(cursor: object, spec: DatasetSpec, columns: str, payload: bytes) -> bool:
    """COPY straight into the table; False (and nothing written) if a key already exists."""
    cursor.execute("SAVEPOINT etl_copy")  # type: ignore[attr-defined]
    try:
        _copy(cursor, spec.table, columns, payload)
    except UniqueViolation:
        cursor.execute("ROLLBACK TO SAVEPOINT etl_copy")  # type: ignore[attr-defined]
        return False
    cursor.execute("RELEASE SAVEPOINT etl_copy")  # type: ignore[attr-defined]
    return True


@contextmanager
def _driver_errors_as_sqlalchemy() -> Iterator[None]:
    """A lost connection during COPY (raw psycopg) must look like any lost connection: the worker waits it out."""
    try:
        yield
    except (psycopg.OperationalError, psycopg.InterfaceError) as error:
        raise OperationalError("COPY", None, error) from error


def load_postgresql(session: Session, spec: DatasetSpec, rows: pl.DataFrame, *, try_copy: bool) -> LoadCounts:
    if rows.is_empty():
        return LoadCounts()
    with _driver_errors_as_sqlalchemy():
        return _load_postgresql(session, spec, rows, try_copy=try_copy)


def _load_postgresql(session: Session, spec: DatasetSpec, rows: pl.DataFrame, *, try_copy: bool) -> LoadCounts:
    columns = ", ".join(spec.column_names)
    payload = rows.select(spec.column_names).write_csv(include_header=False).encode()
    # The chunk and its checkpoint commit together, so a commit lost in a database crash is simply
    # redone on resume: waiting for the WAL flush buys nothing here.
    session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    if try_copy and _copy_new_rows(cursor, spec, columns, payload):
        return LoadCounts(inserted=rows.height)
    stage = f"etl_stage_{spec.table}"
    session.execute(text(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} (LIKE {spec.table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"))
    _copy(cursor, stage, columns, payload)
    inserted, changed = session.execute(text(
        f"WITH upserted AS (INSERT INTO {spec.table} ({columns}) SELECT {columns} FROM {stage} "
        f"{_upsert_tail(spec, 'IS DISTINCT FROM')} RETURNING (xmax = 0) AS inserted) "
        "SELECT count(*) FILTER (WHERE inserted), count(*) FROM upserted")).one()
    return LoadCounts(inserted=inserted, updated=changed - inserted, unchanged=rows.height - changed)


def load_sqlite(session: Session, spec: DatasetSpec, rows: pl.DataFrame) -> LoadCounts:
    if rows.is_empty():
        return LoadCounts()
    columns = ", ".join(spec.column_names)
    placeholders = ", ".join("?" for _ in spec.column_names)
    # Dates as ISO text (what SQLAlchemy's Date stores on SQLite); decimals stay text, which the
    # NUMERIC column takes at full precision for amounts up to 15 significant digits.
    values = rows.select(spec.column_names).with_columns(pl.col(pl.Date).cast(pl.String)).rows()
    raw = session.connection().connection.driver_connection
    cursor = raw.cursor()  # type: ignore[union-attr]
    # The chunk's keys as one JSON parameter: a lookup per key through the primary key index, whatever the table's size.
    keys = json.dumps(rows.select(spec.key).rows(), default=str)
    key_columns = ", ".join(spec.key)
    picked = ", ".join(f"value ->> {i}" for i in range(len(spec.key)))
    existing = cursor.execute(
        f"SELECT count(*) FROM {spec.table} WHERE ({key_columns}) IN (SELECT {picked} FROM json_each(?))", (keys,),
    ).fetchone()[0]
    before_changes = raw.total_changes  # type: ignore[union-attr]
    cursor.executemany(
        f"INSERT INTO {spec.table} ({columns}) VALUES ({placeholders}) {_upsert_tail(spec, 'IS NOT')}", values)
    changes = raw.total_changes - before_changes  # type: ignore[union-attr]
    inserted = rows.height - existing
    return LoadCounts(inserted=inserted, updated=changes - inserted, unchanged=existing - (changes - inserted))


class ChunkLoader:
    """Loads the chunks of one import, remembering whether the optimistic COPY still pays off."""

    def __init__(self, spec: DatasetSpec) -> None:
        self.spec = spec
        self.try_copy = True

    def load(self, session: Session, rows: pl.DataFrame) -> LoadCounts:
        """Upsert `rows` (cleaned, typed, unique keys) in the session's transaction."""
        if session.get_bind().dialect.name != "postgresql":
            return load_sqlite(session, self.spec, rows)
        counts = load_postgresql(session, self.spec, rows, try_copy=self.try_copy)
        if counts.inserted != rows.height:
            self.try_copy = False
        return counts
