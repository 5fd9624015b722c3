"""The rejected rows of an import as a CSV file: line, column, value, reason."""
from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

from etl.blocks import RejectedRecord
from etl.validate import CellError

HEADER = ("line", "column", "value", "reason")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def defuse(cell: str) -> str:
    """The cell with a leading apostrophe if a spreadsheet would take it for a formula."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def rows_of(records: Iterable[RejectedRecord], cells: Iterable[CellError]) -> list[tuple[int, str, str, str]]:
    rows = [(record.line, "", record.text, record.reason) for record in records]
    rows += [(cell.line, cell.column, cell.value, cell.reason) for cell in cells]
    rows.sort(key=lambda row: row[0])
    return rows


class ErrorsReport:
    """Appends rows to the report; `size()` is a checkpoint, `truncate(size)` goes back to one."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def size(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def truncate(self, size: int) -> None:
        """Forget rows written after a checkpoint (their chunk was never committed)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists() or size == 0:
            with self.path.open("w", newline="", encoding="utf-8") as handle:
                csv.writer(handle).writerow(HEADER)
            return
        with self.path.open("r+b") as handle:
            handle.truncate(size)

    def append(self, rows: list[tuple[int, str, str, str]]) -> int:
        """Write rows durably (before the chunk's commit); return the new size."""
        if rows:
            with self.path.open("a", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerows((line, defuse(column), defuse(value), reason) for line, column, value, reason in rows)
                handle.flush()
                os.fsync(handle.fileno())
        return self.size()
