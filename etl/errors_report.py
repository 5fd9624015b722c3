"""The rejected rows of an import as a CSV file: line, column, value, reason."""
from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
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


DEFAULT_MAX_ROWS = 10_000
DEFAULT_MAX_BYTES = 10 << 20


class ErrorsReport:
    """Appends rows to the report; `size()` is a checkpoint, `truncate(size)` goes back to one.

    The report is bounded: past `max_rows` rows or `max_bytes` bytes nothing more is listed, and
    `finish` ends it with a line saying how many rejected rows were left out.
    """

    def __init__(self, path: Path, max_rows: int = DEFAULT_MAX_ROWS, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = path
        self.max_rows, self.max_bytes = max_rows, max_bytes
        self._listed: int | None = None  # rows in the file, counted once when first needed

    def _listed_rows(self) -> int:
        if self._listed is None:
            with self.path.open(newline="", encoding="utf-8") as handle:
                self._listed = max(0, sum(1 for _row in csv.reader(handle)) - 1)
        return self._listed

    def listed_lines(self) -> set[str]:
        """The distinct input lines the report lists (a row can have several bad cells)."""
        with self.path.open(newline="", encoding="utf-8") as handle:
            return {row[0] for row in list(csv.reader(handle))[1:] if row}

    def finish(self, rejected_rows: int) -> None:
        """After the last chunk: say how many rejected rows the bounded report does not list."""
        missing = rejected_rows - len(self.listed_lines())
        if missing > 0:
            self._write([("", "", "", f"{missing} more rejected rows are not listed: the report stops at "
                                      f"{self.max_rows} rows or {self.max_bytes >> 20} MB "
                                      "(ETL_ERRORS_MAX_ROWS, ETL_ERRORS_MAX_MB)")])

    def size(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def truncate(self, size: int) -> None:
        """Forget rows written after a checkpoint (their chunk was never committed)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._listed = None
        if not self.path.exists() or size == 0:
            with self.path.open("w", newline="", encoding="utf-8") as handle:
                csv.writer(handle).writerow(HEADER)
            return
        with self.path.open("r+b") as handle:
            handle.truncate(size)

    def append(self, rows: list[tuple[int, str, str, str]]) -> int:
        """Write rows durably (before the chunk's commit), as many as the bounds allow; return the new size."""
        room = self.max_rows - self._listed_rows() if rows else 0
        if room > 0 and self.size() < self.max_bytes:
            self._write(rows[:room])
        return self.size()

    def _write(self, rows: Sequence[tuple[int | str, str, str, str]]) -> None:
        budget = self.max_bytes - self.size()
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        written = 0
        for line, column, value, reason in rows:
            before = buffer.tell()
            writer.writerow((line, defuse(column), defuse(value), reason))
            if buffer.tell() > budget and line != "":  # the closing summary line is always written
                buffer.seek(before)
                buffer.truncate()
                break
            written += 1
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            handle.write(buffer.getvalue())
            handle.flush()
            os.fsync(handle.fileno())
        if self._listed is not None:
            self._listed += written
