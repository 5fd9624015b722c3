"""Rows a re-import may not change: those whose table row is frozen (DatasetSpec.frozen_by, e.g. invoiced orders).

Before a chunk is loaded, its rows whose key exists in a frozen table row with other values are
rejected with the dataset's reason and the columns they would change; a frozen row given again
unchanged is fine (it counts as unchanged). The upsert's own WHERE keeps frozen rows as they are
too, should a row freeze between this check and the load.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import polars as pl
from sqlalchemy import column, select, table
from sqlalchemy.orm import Session

from etl.spec import DatasetSpec
from etl.validate import LINE, CellError, CheckedChunk


def _same(stored: Any, given: Any) -> bool:
    """Whether a stored value equals the file's cleaned value (decimals arrive as text, dates as dates)."""
    if isinstance(stored, Decimal | int | float) and not isinstance(stored, bool):
        try:
            return Decimal(str(stored)) == Decimal(str(given))
        except ArithmeticError:  # decimal.InvalidOperation: the file's value is no number
            return False
    if isinstance(stored, str) and isinstance(given, date):
        return stored == given.isoformat()
    if isinstance(stored, str) and isinstance(given, int | float) and not isinstance(given, bool):
        try:
            return Decimal(stored) == Decimal(str(given))
        except ArithmeticError:
            return False
    return bool(stored == given)


def drop_frozen_changes(session: Session, spec: DatasetSpec, chunk: CheckedChunk) -> CheckedChunk:
    """The chunk without its rows that would change a frozen row; those become rejected rows."""
    if spec.frozen_by is None or chunk.valid.is_empty():
        return chunk
    rows = table(spec.table, *(column(name) for name in (*spec.column_names, spec.frozen_by)))
    frozen = rows.c[spec.frozen_by].is_not(None)
    if session.execute(select(rows.c[spec.key[0]]).where(frozen).limit(1)).first() is None:
        return chunk  # nothing frozen yet: the usual case, one indexed probe
    first_key = chunk.valid.get_column(spec.key[0])
    stored = {
        tuple(row[:len(spec.key)]): row[len(spec.key):]
        for row in session.execute(
            select(*(rows.c[name] for name in (*spec.key, *spec.value_columns)))
            .where(frozen, rows.c[spec.key[0]].between(first_key.min(), first_key.max())))
    }
    if not stored:
        return chunk
    errors, rejected_lines = list(chunk.errors), set()
    for row in chunk.valid.select(LINE, *spec.key, *spec.value_columns).iter_rows():
        line, key, values = row[0], tuple(row[1:1 + len(spec.key)]), row[1 + len(spec.key):]
        current = stored.get(key)
        if current is None:
            continue
        changed = [name for name, old, new in zip(spec.value_columns, current, values, strict=True)
                   if not _same(old, new)]
        if changed:
            rejected_lines.add(line)
            errors.append(CellError(line=line, column=",".join(changed), value=",".join(str(part) for part in key),
                                    reason=f"{spec.frozen_reason} (the row would change {', '.join(changed)})"))
    if not rejected_lines:
        return chunk
    keep = ~pl.col(LINE).is_in(sorted(rejected_lines))
    return CheckedChunk(valid=chunk.valid.filter(keep), errors=errors,
                        rejected_rows=chunk.rejected_rows + len(rejected_lines))
