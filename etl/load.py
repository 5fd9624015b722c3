"""Upserting a chunk of valid rows into a dataset's table, counting inserts, updates and unchanged rows.

PostgreSQL: COPY into a temporary staging table, then one INSERT … ON CONFLICT DO UPDATE whose
WHERE skips rows that would not change; RETURNING (xmax = 0) tells inserts from updates.
SQLite: one executemany of INSERT … ON CONFLICT DO UPDATE … WHERE; the table's row count before
and after (the transaction holds the write lock) gives the inserts, total_changes the rest.
Identifiers come from the dataset specs (code, not input).
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from sqlalchemy import text
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
    return (f"ON CONFLICT ({', '.join(spec.key)}) DO UPDATE SET {_assignments(spec)} "
            f"WHERE {_changed(spec, null_safe_distinct)}")


def load_postgresql(session: Session, spec: DatasetSpec, rows: pl.DataFrame) -> LoadCounts:
    if rows.is_empty():
        return LoadCounts()
    columns = ", ".join(spec.column_names)
    stage = f"etl_stage_{spec.table}"
    session.execute(text(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} (LIKE {spec.table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"))
    payload = rows.select(spec.column_names).write_csv(include_header=False).encode()
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {stage} ({columns}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(payload)
    # The chunk and its checkpoint commit together, so a commit lost in a database crash is simply
    # redone on resume: waiting for the WAL flush buys nothing here.
    session.execute(text("SET LOCAL synchronous_commit TO OFF"))
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
    count = f"SELECT count(*) FROM {spec.table}"
    before_rows = cursor.execute(count).fetchone()[0]
    before_changes = raw.total_changes  # type: ignore[union-attr]
    cursor.executemany(
        f"INSERT INTO {spec.table} ({columns}) VALUES ({placeholders}) {_upsert_tail(spec, 'IS NOT')}", values)
    changes = raw.total_changes - before_changes  # type: ignore[union-attr]
    inserted = cursor.execute(count).fetchone()[0] - before_rows
    return LoadCounts(inserted=inserted, updated=changes - inserted, unchanged=rows.height - changes)


def load_rows(session: Session, spec: DatasetSpec, rows: pl.DataFrame) -> LoadCounts:
    """Upsert `rows` (cleaned, typed, unique keys) in the session's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        return load_postgresql(session, spec, rows)
    return load_sqlite(session, spec, rows)
