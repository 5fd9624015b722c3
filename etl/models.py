"""ImportRun: one CSV import, its file, its format and its checkpoint."""
from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from jobs.db import Base, UTCDateTime, utcnow

FIRST_DATA_LINE = 2  # line 1 is the header


class ImportPhase(StrEnum):
    VALIDATING = "validating"  # all-or-nothing datasets: the whole file is checked before any row is loaded
    LOADING = "loading"


class ImportRun(Base):
    """The import behind an `etl.import` job. Its checkpoint moves with each committed chunk."""

    __tablename__ = "etl_imports"

    job_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    dataset: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    stored_path: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    compressed: Mapped[bool] = mapped_column(Boolean, default=False)
    encoding: Mapped[str | None] = mapped_column(String(16), nullable=True)  # known once the job has scanned the file
    delimiter: Mapped[str] = mapped_column(String(1))
    header: Mapped[list[str]] = mapped_column(JSON)
    unknown_columns: Mapped[list[str]] = mapped_column(JSON, default=list)
    data_offset: Mapped[int] = mapped_column(BigInteger)
    phase: Mapped[str] = mapped_column(String(16), default=ImportPhase.LOADING)
    # Checkpoint: where the next chunk of the current phase starts, and what the committed chunks added up to.
    offset: Mapped[int] = mapped_column(BigInteger)
    line: Mapped[int] = mapped_column(Integer, default=2)
    errors_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_inserted: Mapped[int] = mapped_column(Integer, default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, default=0)
    rows_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    finished: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def rows_loaded(self) -> int:
        return self.rows_inserted + self.rows_updated + self.rows_unchanged

    def counts(self) -> dict[str, Any]:
        return {
            "rows_read": self.rows_read, "rows_loaded": self.rows_loaded, "rows_inserted": self.rows_inserted,
            "rows_updated": self.rows_updated, "rows_unchanged": self.rows_unchanged,
            "rows_rejected": self.rows_rejected,
        }
