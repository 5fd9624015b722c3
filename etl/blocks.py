"""Cutting a CSV byte stream into blocks of whole records, with offsets and physical line numbers.

Fast path: record boundaries are the line breaks outside quoted fields (a quote toggles "inside"; a
doubled quote toggles twice). numpy finds them, the field separators and the NUL bytes of a block
in a few vectorized passes, so a block's malformed records (wrong field count, NUL bytes) are known
with their line numbers before polars parses the rest. That counting is only right when every quote
stands where CSV allows one (opening a field, closing it, or doubled inside it); a block with a stray
quote (`3.5" floppy`, `"Acme" Ltd`) switches the rest of the file to the exact path: Python's csv
module, line by line, which reads such quotes as text, as spreadsheets do. Every block starts and ends
on a record boundary, so its end offset is a safe place to resume from.
"""
from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

QUOTE, NEWLINE, CR, NUL = 34, 10, 13, 0
READ_BYTES = 1 << 20
# A block this large that still lacks its records' ends holds a runaway quote or a giant record.
MAX_BLOCK_BYTES = 64 << 20
MAX_FIELD_CHARS = 1 << 20
# The longest physical line read into memory; a longer one is skipped in pieces of this size and its
# record rejected, so an unbroken gigabyte "line" costs the worker no more than this.
MAX_LINE_BYTES = 1 << 20
REJECT_TEXT_CHARS = 200


@dataclass(frozen=True)
class RejectedRecord:
    line: int
    text: str
    reason: str


@dataclass
class Block:
    start: int  # stream offset of the block's first record
    end: int  # stream offset just after its last record: where the next block starts
    first_line: int  # physical line number at `start`
    next_line: int  # physical line number at `end`
    records: bytes  # the well-formed records as UTF-8, one per line, for the CSV parser
    lines: np.ndarray  # physical line number of each of those records
    rejected: list[RejectedRecord] = field(default_factory=list)
    blank_lines: int = 0
    rows: list[list[str]] | None = None  # exact path: the records already split into fields (records is empty)

    @property
    def rows_read(self) -> int:
        """Records read (blank lines are not records)."""
        return len(self.lines) + len(self.rejected)


def _quote_parity(arr: np.ndarray, carried: int) -> np.ndarray:
    # uint8 wraps at 256, which keeps the parity and a tenth of the memory of int64.
    return (np.cumsum(arr == QUOTE, dtype=np.uint8) + carried) & 1


def quotes_well_formed(arr: np.ndarray, delimiter: int) -> bool:
    """Whether every quote of `arr` (which starts outside quotes) opens a field, closes it, or is doubled."""
    positions = np.flatnonzero(arr == QUOTE)
    if not len(positions):
        return True
    opens = (np.arange(len(positions)) & 1) == 0  # the 1st, 3rd, … quote goes inside a field
    before = np.where(positions > 0, arr[np.maximum(positions - 1, 0)], NEWLINE)
    after = np.where(positions < len(arr) - 1, arr[np.minimum(positions + 1, len(arr) - 1)], NEWLINE)
    opening_ok = (before == delimiter) | (before == NEWLINE) | (before == QUOTE)
    closing_ok = (after == delimiter) | (after == NEWLINE) | (after == CR) | (after == QUOTE)
    return bool(np.all(np.where(opens, opening_ok, closing_ok)))


def _record_ends(arr: np.ndarray, carried_parity: int) -> tuple[np.ndarray, int]:
    """Offsets of the line breaks that end records in `arr`, and the quote parity after it."""
    newlines = np.flatnonzero(arr == NEWLINE)
    if not (arr == QUOTE).any():
        return (newlines if carried_parity == 0 else newlines[:0]), carried_parity
    parity = _quote_parity(arr, carried_parity)
    return newlines[parity[newlines] == 0], int(parity[-1]) if len(arr) else carried_parity


class BlockReader:
    """Yields blocks of about `rows_per_block` records from `stream`, starting at `start` (a record boundary)."""

    def __init__(
        self,
        stream: BinaryIO,
        *,
        start: int,
        first_line: int,
        delimiter: str,
        width: int,
        encoding: str,
        rows_per_block: int,
    ) -> None:
        self.stream = stream
        self.offset = start
        self.line = first_line
        self.delimiter = ord(delimiter)
        self.width = width
        self.encoding = encoding
        self.rows_per_block = rows_per_block

    def __iter__(self) -> Iterator[Block]:
        self.stream.seek(self.offset)
        buffer = bytearray()
        ends: list[np.ndarray] = []
        found = 0
        parity = 0
        eof = False
        while True:
            while found < self.rows_per_block and not eof and len(buffer) < MAX_BLOCK_BYTES:
                piece = self.stream.read(READ_BYTES)
                if not piece:
                    eof = True
                    break
                piece_ends, parity = _record_ends(np.frombuffer(piece, dtype=np.uint8), parity)
                ends.append(piece_ends + len(buffer))
                found += len(piece_ends)
                buffer += piece
            all_ends = np.concatenate(ends) if ends else np.empty(0, dtype=np.int64)
            added_newline = False
            if eof and buffer and (not len(all_ends) or all_ends[-1] != len(buffer) - 1):
                buffer += b"\n"  # the last record has no line break: give it one, but not in the offsets
                all_ends = np.append(all_ends, len(buffer) - 1)
                added_newline = True
            if not len(all_ends):
                if buffer:  # no record end in MAX_BLOCK_BYTES: only the exact path can tell what happened
                    yield from self._exact_blocks()
                return
            take = all_ends[: self.rows_per_block]
            cut = int(take[-1]) + 1
            data = bytes(buffer[:cut])
            if not quotes_well_formed(np.frombuffer(data, dtype=np.uint8), self.delimiter):
                yield from self._exact_blocks()
                return
            yield self._block(data, take, added_newline and cut == len(buffer))
            del buffer[:cut]
            rest = all_ends[self.rows_per_block:] - cut
            ends, found = ([rest] if len(rest) else []), len(rest)

    def _block(self, data: bytes, ends: np.ndarray, added_newline: bool = False) -> Block:
        arr = np.frombuffer(data, dtype=np.uint8)
        starts = np.concatenate(([0], ends[:-1] + 1))
        lengths = ends - starts
        newlines = np.flatnonzero(arr == NEWLINE)
        lines = self.line + np.searchsorted(newlines, starts)
        blank = (lengths == 0) | ((lengths == 1) & (arr[starts] == CR))

        separators = arr == self.delimiter
        if (arr == QUOTE).any():
            separators &= _quote_parity(arr, 0) == 0
        fields = np.bincount(np.searchsorted(ends, np.flatnonzero(separators)), minlength=len(ends)) + 1
        has_nul = np.zeros(len(ends), dtype=bool)
        has_nul[np.searchsorted(ends, np.flatnonzero(arr == NUL))] = True
        ragged = (fields != self.width) & ~blank
        bad = ragged | has_nul
        keep = ~(bad | blank)

        rejected = [
            RejectedRecord(
                line=int(lines[i]),
                text=data[starts[i]:ends[i]].decode(self.encoding, errors="replace").rstrip("\r")
                .replace("\x00", "\\x00")[:REJECT_TEXT_CHARS],
                reason="contains a NUL byte" if has_nul[i] else
                f"has {int(fields[i])} fields; the header has {self.width}",
            )
            for i in np.flatnonzero(bad)
        ]
        records = data if keep.all() else b"".join(data[s:e + 1] for s, e in zip(starts[keep], ends[keep], strict=True))
        if self.encoding != "utf-8":
            records = records.decode(self.encoding).encode("utf-8")
        block = Block(start=self.offset, end=self.offset + len(data) - added_newline, first_line=self.line,
                      next_line=self.line + len(newlines), records=records, lines=lines[keep],
                      rejected=rejected, blank_lines=int(blank.sum()))
        self.offset, self.line = block.end, block.next_line
        return block

    def _exact_blocks(self) -> Iterator[Block]:
        """From the current offset to the end, records split by Python's csv module (stray quotes are text)."""
        csv.field_size_limit(MAX_FIELD_CHARS)
        self.stream.seek(self.offset)
        feed = _LineFeed(self.stream, self.encoding)
        reader = csv.reader(feed, delimiter=chr(self.delimiter), strict=False)
        base_offset, base_line = self.offset, self.line
        rows: list[list[str]] = []
        lines: list[int] = []
        rejected: list[RejectedRecord] = []
        blank = 0

        def block() -> Block:
            start, first_line = self.offset, self.line
            self.offset, self.line = base_offset + feed.bytes_read, base_line + feed.lines_read
            return Block(start=start, end=self.offset, first_line=first_line, next_line=self.line, records=b"",
                         lines=np.array(lines, dtype=np.int64), rejected=rejected, blank_lines=blank, rows=rows)

        while True:
            feed.begin_record()
            line = base_line + feed.lines_read
            try:
                fields: list[str] | None = next(reader)
            except StopIteration:
                break
            except csv.Error as error:
                rejected.append(RejectedRecord(line, feed.record_text(), f"cannot be read as CSV: {error}"))
                fields = None
            if feed.record_overlong:
                rejected.append(RejectedRecord(line, feed.record_text(),
                                               f"is longer than {MAX_LINE_BYTES >> 20} MiB on one line; not read"))
            elif fields is None:
                pass
            elif not fields:
                blank += 1
            elif feed.record_has_nul:
                rejected.append(RejectedRecord(line, feed.record_text(), "contains a NUL byte"))
            elif len(fields) != self.width:
                rejected.append(RejectedRecord(line, feed.record_text(),
                                               f"has {len(fields)} fields; the header has {self.width}"))
            else:
                rows.append(fields)
                lines.append(line)
            if len(rows) + len(rejected) >= self.rows_per_block:
                yield block()
                rows, lines, rejected, blank = [], [], [], 0
        if rows or rejected or blank:
            yield block()


class _LineFeed:
    """Decoded lines for csv.reader, counting the bytes and lines each record takes."""

    def __init__(self, stream: BinaryIO, encoding: str) -> None:
        self.stream, self.encoding = stream, encoding
        self.bytes_read = 0
        self.lines_read = 0
        self._record: list[bytes] = []
        self.record_overlong = False

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        raw = self.stream.readline(MAX_LINE_BYTES)
        if not raw:
            raise StopIteration
        self.bytes_read += len(raw)
        self.lines_read += raw.count(b"\n")
        if len(raw) == MAX_LINE_BYTES and not raw.endswith(b"\n"):
            self._skip_rest_of_line()
            self._record.append(raw[:REJECT_TEXT_CHARS * 4])
            self.record_overlong = True
            return "\n"  # an empty line in its place: nothing of it reaches the csv module
        self._record.append(raw)
        return raw.decode(self.encoding, errors="replace").replace("\x00", "")

    def _skip_rest_of_line(self) -> None:
        while piece := self.stream.readline(MAX_LINE_BYTES):
            self.bytes_read += len(piece)
            if piece.endswith(b"\n"):
                self.lines_read += 1
                return

    def begin_record(self) -> None:
        self._record = []
        self.record_overlong = False

    @property
    def record_has_nul(self) -> bool:
        return any(b"\x00" in raw for raw in self._record)

    def record_text(self) -> str:
        text = b"".join(self._record)[: REJECT_TEXT_CHARS * 4].decode(self.encoding, errors="replace")
        return text.rstrip("\r\n").replace("\x00", "\\x00")[:REJECT_TEXT_CHARS]
