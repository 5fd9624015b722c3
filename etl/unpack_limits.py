"""A compressed upload may not unpack to more than it is allowed to: a size cap and a ratio, checked while reading.

A small `.csv.gz` can hold gigabytes (a "zip bomb"); the import reads it through BoundedStream, which
stops with UnpackLimitExceeded as soon as the uncompressed position passes MAX_UNCOMPRESSED_MB, or
passes MAX_COMPRESSION_RATIO times the compressed size once past a first RATIO_GRACE_BYTES (small
files of repeated values compress well and are no danger). Nothing beyond the limit is decompressed.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO

RATIO_GRACE_BYTES = 16 << 20


class UnpackLimitExceeded(ValueError):
    """The compressed file unpacks to more than allowed; the message names the setting."""


@dataclass(frozen=True)
class UnpackLimits:
    max_bytes: int
    max_ratio: float

    def allowed(self, compressed_size: int) -> int:
        """The most uncompressed bytes a file of `compressed_size` may unpack to."""
        return min(self.max_bytes, max(RATIO_GRACE_BYTES, int(compressed_size * self.max_ratio)))


class BoundedStream(io.RawIOBase):
    """A seekable uncompressed stream that refuses to go past `allowed` bytes."""

    def __init__(self, inner: BinaryIO, allowed: int, limits: UnpackLimits, compressed_size: int) -> None:
        super().__init__()
        self.inner, self.allowed, self.limits, self.compressed_size = inner, allowed, limits, compressed_size

    def _refuse(self) -> UnpackLimitExceeded:
        if self.allowed >= self.limits.max_bytes:
            return UnpackLimitExceeded(f"the compressed file unpacks to more than {self.limits.max_bytes >> 20} MB "
                                       "(MAX_UNCOMPRESSED_MB); split it or raise the limit")
        return UnpackLimitExceeded(
            f"the compressed file unpacks to more than {self.limits.max_ratio:g} times its "
            f"{self.compressed_size:,} bytes (MAX_COMPRESSION_RATIO): refused as a possible decompression bomb")

    def _budget(self, size: int | None) -> int:
        left = self.allowed - self.inner.tell()
        if left < 0:
            raise self._refuse()
        return left + 1 if size is None or size < 0 else min(size, left + 1)

    def _checked(self, data: bytes) -> bytes:
        if self.inner.tell() > self.allowed:
            raise self._refuse()
        return data

    def read(self, size: int | None = -1) -> bytes:
        return self._checked(self.inner.read(self._budget(size)))

    def readline(self, size: int | None = -1) -> bytes:
        return self._checked(self.inner.readline(self._budget(size)))

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET and offset > self.allowed:
            raise self._refuse()
        return self.inner.seek(offset, whence)

    def tell(self) -> int:
        return self.inner.tell()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        self.inner.close()
        super().close()

    def __enter__(self) -> BoundedStream:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
