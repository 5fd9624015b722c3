"""What an uploaded CSV looks like: compression, encoding, delimiter and header, found before the job starts."""
from __future__ import annotations

import codecs
import csv
import gzip
import io
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from etl.unpack_limits import BoundedStream, UnpackLimits

DELIMITERS = (",", ";", "\t")
HEADER_PROBE_BYTES = 64 * 1024
ENCODING_SCAN_BYTES = 4 * 1024 * 1024
UTF8_BOM = codecs.BOM_UTF8


class CsvFormatError(ValueError):
    """The file cannot be read as CSV; the message says why."""


@dataclass(frozen=True)
class CsvFormat:
    compressed: bool
    encoding: str  # "utf-8" or "latin-1"
    delimiter: str
    header: tuple[str, ...]
    data_offset: int  # byte offset (in the uncompressed stream) of the first record after the header


def is_gzip(path: Path) -> bool:
    with path.open("rb") as raw:
        return raw.read(2) == b"\x1f\x8b"


def open_binary(path: Path, compressed: bool, limits: UnpackLimits | None = None) -> BinaryIO:
    """The file's uncompressed bytes; with `limits`, a compressed file stops where it would unpack too much."""
    if not compressed:
        return path.open("rb")
    stream: BinaryIO = gzip.open(path, "rb")  # type: ignore[assignment]  # noqa: SIM115 - the caller closes it
    if limits is None:
        return stream
    size = path.stat().st_size
    return BoundedStream(stream, limits.allowed(size), limits, size)  # type: ignore[return-value]


def _guess_delimiter(header_line: str) -> str:
    counts = {delimiter: header_line.count(delimiter) for delimiter in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _decode_header(raw: bytes) -> tuple[str, str]:
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def inspect_csv(path: Path) -> CsvFormat:
    """Read the header (and sniff delimiter and encoding from it); CsvFormatError if there is none."""
    compressed = is_gzip(path)
    try:
        with open_binary(path, compressed) as stream:
            head = stream.read(HEADER_PROBE_BYTES)
    except (OSError, EOFError, zlib.error) as error:
        raise CsvFormatError(f"the file cannot be read: {error}") from None
    bom = len(UTF8_BOM) if head.startswith(UTF8_BOM) else 0
    end = head.find(b"\n", bom)
    if end < 0:
        if len(head) == HEADER_PROBE_BYTES:
            raise CsvFormatError(f"no line break in the first {HEADER_PROBE_BYTES // 1024} KiB: not a CSV file")
        end = len(head)
    if b"\x00" in head[bom:end]:
        raise CsvFormatError("the header contains NUL bytes: not a text CSV file")
    text, encoding = _decode_header(head[bom:end].rstrip(b"\r"))
    if not text.strip():
        raise CsvFormatError("the file is empty or its first line is blank; the first line must name the columns")
    delimiter = _guess_delimiter(text)
    try:
        header = tuple(next(csv.reader(io.StringIO(text), delimiter=delimiter)))
    except csv.Error as error:
        raise CsvFormatError(f"the header line cannot be read ({error}); lines must end with \\n or \\r\\n") from None
    return CsvFormat(compressed=compressed, encoding=encoding, delimiter=delimiter,
                     header=tuple(name.strip() for name in header), data_offset=min(end + 1, len(head)))


def _decodes_as(path: Path, compressed: bool, data_offset: int, encoding: str,
                limits: UnpackLimits | None) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    with open_binary(path, compressed, limits) as stream:
        stream.seek(data_offset)
        try:
            while piece := stream.read(ENCODING_SCAN_BYTES):
                decoder.decode(piece)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def _has_c1_bytes(path: Path, compressed: bool, data_offset: int, limits: UnpackLimits | None) -> bool:
    """Bytes 0x80-0x9F: control characters in Latin-1, but €, ’, – … in Windows-1252."""
    c1 = bytes(range(0x80, 0xA0))
    with open_binary(path, compressed, limits) as stream:
        stream.seek(data_offset)
        while piece := stream.read(ENCODING_SCAN_BYTES):
            if piece.translate(None, c1) != piece:
                return True
    return False


def body_encoding(path: Path, compressed: bool, data_offset: int, limits: UnpackLimits | None = None) -> str:
    """UTF-8 if every byte after the header decodes as UTF-8; else Windows-1252 when it has bytes only
    that code page gives a meaning to (0x80-0x9F: €, ’, …) and decodes; else Latin-1 (which decodes anything)."""
    if _decodes_as(path, compressed, data_offset, "utf-8", limits):
        return "utf-8"
    if (_has_c1_bytes(path, compressed, data_offset, limits)
            and _decodes_as(path, compressed, data_offset, "cp1252", limits)):
        return "cp1252"
    return "latin-1"
