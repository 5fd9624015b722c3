"""A compressed upload is read through BoundedStream: it stops at the size cap or the ratio, having unpacked no more."""
from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from etl.csv_format import body_encoding, open_binary
from etl.unpack_limits import RATIO_GRACE_BYTES, UnpackLimitExceeded, UnpackLimits


def gz(path: Path, size: int, pattern: bytes = b"1,2026-01-01,a@example.test,SKU-1,1,1.00,EUR,DE\n") -> Path:
    with gzip.open(path, "wb") as out:
        written = 0
        while written < size:
            out.write(pattern * 10_000)
            written += len(pattern) * 10_000
    return path


def test_a_file_within_its_limits_reads_to_the_end(tmp_path: Path) -> None:
    path = gz(tmp_path / "ok.csv.gz", 8 << 20)
    with open_binary(path, True, UnpackLimits(64 << 20, 1e9)) as stream:
        total = sum(len(piece) for piece in iter(lambda: stream.read(1 << 20), b""))
    assert total >= 8 << 20


def test_the_size_cap_stops_reading_at_the_cap(tmp_path: Path) -> None:
    path = gz(tmp_path / "big.csv.gz", 40 << 20)
    with open_binary(path, True, UnpackLimits(16 << 20, 1e9)) as stream:
        read = 0
        with pytest.raises(UnpackLimitExceeded, match="more than 16 MB"):
            while piece := stream.read(1 << 20):
                read += len(piece)
    assert read <= (16 << 20) + 1


def test_the_ratio_refuses_a_bomb_past_the_grace_size(tmp_path: Path) -> None:
    path = gz(tmp_path / "bomb.csv.gz", RATIO_GRACE_BYTES + (32 << 20), pattern=b"0" * 1000)
    assert path.stat().st_size * 100 < RATIO_GRACE_BYTES  # compresses more than 100:1
    with pytest.raises(UnpackLimitExceeded, match="MAX_COMPRESSION_RATIO"):
        body_encoding(path, True, 0, UnpackLimits(1 << 40, 100))


def test_readline_and_seek_are_bounded_too(tmp_path: Path) -> None:
    path = gz(tmp_path / "line.csv.gz", 40 << 20, pattern=b"x" * 1000)  # one line of 40 MB
    with open_binary(path, True, UnpackLimits(16 << 20, 1e9)) as stream, pytest.raises(UnpackLimitExceeded):
        stream.readline()
    with open_binary(path, True, UnpackLimits(16 << 20, 1e9)) as stream, pytest.raises(UnpackLimitExceeded):
        stream.seek(20 << 20)


def test_an_uncompressed_file_is_not_limited(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_bytes(b"a\n" * 1000)
    with open_binary(path, False, UnpackLimits(1, 2)) as stream:
        assert len(stream.read()) == 2000
