"""How a dataset is declared: its columns, their types and rules, its key and its target table."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ColumnType(StrEnum):
    INTEGER = "integer"
    DECIMAL = "decimal"  # "." or "," as the decimal separator
    DATE = "date"  # YYYY-MM-DD or DD/MM/YYYY
    TEXT = "text"  # trimmed
    EMAIL = "email"  # trimmed, lower-cased
    CURRENCY = "currency"  # ISO 4217, upper-cased
    COUNTRY = "country"  # ISO 3166-1 alpha-2, upper-cased


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool = True
    minimum: int | None = None  # for integer and decimal columns
    maximum: int | None = None  # for integer columns (the column type's range)
    max_length: int = 255  # for text and email columns
    scale: int = 4  # most digits after the decimal separator, for decimal columns


@dataclass(frozen=True)
class DatasetSpec:
    """One importable dataset. Its table is created by a migration with the same column names."""

    name: str
    table: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    description: str = ""
    # All-or-nothing: the whole file is validated before any row is loaded; a file with more rejects
    # than the threshold loads nothing. Otherwise each chunk is loaded as soon as it is validated.
    all_or_nothing: bool = False
    # A column of the table (not of the file) that, once set, freezes its row: a re-import may not change
    # the row's values (e.g. an order line once invoiced). Such rows are rejected with the reason.
    frozen_by: str | None = None
    frozen_reason: str = ""
    column_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "column_names", tuple(column.name for column in self.columns))
        missing = set(self.key) - set(self.column_names)
        if missing:
            raise ValueError(f"dataset {self.name}: key columns {sorted(missing)} are not columns")
        if self.frozen_by and self.all_or_nothing:
            raise ValueError(f"dataset {self.name}: frozen rows are checked while loading, one pass only")

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns if column.required)

    @property
    def value_columns(self) -> tuple[str, ...]:
        """The columns an upsert updates (all but the key)."""
        return tuple(name for name in self.column_names if name not in self.key)
