"""Matching a file's header to a dataset's columns: case-insensitive, any order, extras ignored."""
from __future__ import annotations

from dataclasses import dataclass

from etl.spec import DatasetSpec


class HeaderError(ValueError):
    """The header lacks required columns (named in `missing`) or repeats one."""

    def __init__(self, message: str, missing: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.missing = missing


@dataclass(frozen=True)
class HeaderMap:
    positions: dict[str, int]  # dataset column -> index in the file's records
    unknown_columns: tuple[str, ...]  # file columns the dataset does not have (ignored, reported)
    width: int  # fields per record


def map_header(spec: DatasetSpec, header: tuple[str, ...]) -> HeaderMap:
    normalized = [name.strip().lower() for name in header]
    repeated = sorted({name for name in normalized if name and normalized.count(name) > 1})
    if repeated:
        raise HeaderError(f"the header repeats the column(s) {', '.join(repeated)}")
    positions = {column: normalized.index(column) for column in spec.column_names if column in normalized}
    missing = tuple(column for column in spec.required_columns if column not in positions)
    if missing:
        raise HeaderError(f"missing required column(s): {', '.join(missing)}", missing)
    known = set(spec.column_names)
    unknown = tuple(name for name, low in zip(header, normalized, strict=True) if low not in known)
    return HeaderMap(positions=positions, unknown_columns=unknown, width=len(header))
