"""Column-wise validation and cleaning of a parsed chunk, reporting every bad cell with its reason.

Each rule is a polars expression evaluated over the whole chunk, so validating costs a few
vectorized passes instead of a Python loop per row; the rows that fail are then listed one by
one with their line, column, value and reason.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from polars.expr.whenthen import ChainedThen, Then

from etl.codes import country_codes, currency_codes
from etl.spec import Column, ColumnType, DatasetSpec

LINE = "__line"
ERROR_PREFIX = "__error_"
HASH_SEED = 20261123  # fixed: the hashes of a resumed import must match the first attempt's
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# [0-9], not \d: polars' regex counts every Unicode digit as \d, and a number must be ASCII.
INTEGER_PATTERN = r"^[+-]?[0-9]{1,18}$"
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y")


@dataclass(frozen=True)
class CellError:
    line: int
    column: str
    value: str
    reason: str


@dataclass
class CheckedChunk:
    valid: pl.DataFrame  # cleaned, typed columns of the spec plus LINE
    errors: list[CellError]  # every bad cell of the rejected rows
    rejected_rows: int


# Every table stores at most 15 significant digits exactly (SQLite keeps NUMERIC as a double).
DECIMAL_DIGITS = 15


def _decimal_pattern(column: Column) -> str:
    return rf"^[+-]?[0-9]{{1,{DECIMAL_DIGITS - column.scale}}}([.,][0-9]{{1,{column.scale}}})?$"


def _rules(column: Column) -> tuple[pl.Expr, pl.Expr]:
    """(cleaned value, error reason or null) of one column, from its trimmed text."""
    text = pl.col(column.name).str.strip_chars()
    present = text.is_not_null() & (text != "")
    minimum = column.minimum
    if column.type is ColumnType.INTEGER:
        clean = text.cast(pl.Int64, strict=False)
        checks = [(~text.str.contains(INTEGER_PATTERN), "not a whole number")]
        if minimum is not None:
            checks.append((clean < minimum, f"must be at least {minimum}"))
        if column.maximum is not None:
            checks.append((clean > column.maximum, f"must be at most {column.maximum}"))
    elif column.type is ColumnType.DECIMAL:
        clean = text.str.replace(",", ".", literal=True)
        checks = [(~text.str.contains(_decimal_pattern(column)),
                   f"not a decimal number with at most {DECIMAL_DIGITS - column.scale} digits before and "
                   f"{column.scale} after the separator ('.' or ',')")]
        if minimum is not None:
            checks.append((clean.cast(pl.Float64, strict=False) < minimum, f"must be at least {minimum}"))
    elif column.type is ColumnType.DATE:
        clean = pl.coalesce(*(text.str.to_date(fmt, strict=False) for fmt in DATE_FORMATS))
        checks = [(clean.is_null(), "not a date (YYYY-MM-DD or DD/MM/YYYY)")]
    elif column.type is ColumnType.EMAIL:
        clean = text.str.to_lowercase()
        checks = [(~clean.str.contains(EMAIL_PATTERN), "not an email address"),
                  (clean.str.len_chars() > column.max_length, f"longer than {column.max_length} characters")]
    elif column.type is ColumnType.CURRENCY:
        clean = text.str.to_uppercase()
        checks = [(~clean.is_in(sorted(currency_codes())), "not an ISO 4217 currency code")]
    elif column.type is ColumnType.COUNTRY:
        clean = text.str.to_uppercase()
        checks = [(~clean.is_in(sorted(country_codes())), "not an ISO 3166 two-letter country code")]
    else:
        clean = text
        checks = [(text.str.len_chars() > column.max_length, f"longer than {column.max_length} characters")]

    reason: Then | ChainedThen = pl.when(~present & column.required).then(pl.lit("required; the cell is empty"))
    for failed, message in checks:
        reason = reason.when(present & failed).then(pl.lit(message))
    return pl.when(present).then(clean).otherwise(None).alias(column.name), reason.otherwise(None)


def check_chunk(spec: DatasetSpec, raw: pl.DataFrame) -> CheckedChunk:
    """Validate every cell of `raw` (text columns named as the spec, plus LINE)."""
    rules = {column.name: _rules(column) for column in spec.columns}
    flagged = raw.with_columns(
        [reason.alias(ERROR_PREFIX + name) for name, (_clean, reason) in rules.items()]
    )
    error_columns = [ERROR_PREFIX + name for name in rules]
    bad_row = pl.any_horizontal(pl.col(error_columns).is_not_null())
    bad = flagged.filter(bad_row)
    errors = [
        CellError(line=line, column=name, value=value or "", reason=reason)
        for name in rules
        for line, value, reason in bad.filter(pl.col(ERROR_PREFIX + name).is_not_null())
        .select(LINE, name, ERROR_PREFIX + name).iter_rows()
    ]
    valid = flagged.filter(~bad_row).select(LINE, *(clean for clean, _reason in rules.values()))
    return CheckedChunk(valid=valid, errors=errors, rejected_rows=bad.height)


def key_hashes(spec: DatasetSpec, valid: pl.DataFrame) -> np.ndarray:
    return valid.select(spec.key).hash_rows(seed=HASH_SEED).to_numpy()


class SeenKeys:
    """The keys loaded so far in one import, as sorted 64-bit hashes (8 bytes a row)."""

    def __init__(self) -> None:
        self._sorted = np.empty(0, dtype=np.uint64)

    def __len__(self) -> int:
        return len(self._sorted)

    def add(self, hashes: np.ndarray) -> None:
        merged = np.concatenate((self._sorted, np.sort(hashes)))
        merged.sort(kind="stable")  # two sorted runs: timsort merges them in linear time
        self._sorted = merged

    def seen(self, hashes: np.ndarray) -> np.ndarray:
        if not len(self._sorted):
            return np.zeros(len(hashes), dtype=bool)
        index = np.minimum(np.searchsorted(self._sorted, hashes), len(self._sorted) - 1)
        found: np.ndarray = self._sorted[index] == hashes
        return found


def drop_duplicate_keys(spec: DatasetSpec, chunk: CheckedChunk, seen: SeenKeys) -> CheckedChunk:
    """Reject rows whose key already appeared in this file (earlier in the chunk or in an earlier chunk)."""
    valid = chunk.valid
    if valid.is_empty():
        return chunk
    hashes = key_hashes(spec, valid)
    _unique, first_index = np.unique(hashes, return_index=True)
    first_in_chunk = np.zeros(len(hashes), dtype=bool)
    first_in_chunk[first_index] = True
    duplicate = ~first_in_chunk | seen.seen(hashes)
    seen.add(hashes[~duplicate])
    if not duplicate.any():
        return chunk
    mask = pl.Series(duplicate)
    key_label = ",".join(spec.key)
    duplicates = valid.filter(mask)
    errors = chunk.errors + [
        CellError(line=row[0], column=key_label, value=",".join(str(part) for part in row[1:]),
                  reason="duplicate key: the same key appears earlier in this file")
        for row in duplicates.select(LINE, *spec.key).iter_rows()
    ]
    return CheckedChunk(valid=valid.filter(~mask), errors=errors, rejected_rows=chunk.rejected_rows + duplicates.height)
