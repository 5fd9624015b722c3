"""`flask jobs purge` and the relay's periodic purge: every family's retention rules in one place.

Finished jobs go after JOB_RETENTION_DAYS (with their attempts, audit entries, outbox rows and
idempotency keys), except the jobs an invoice names: invoices, their PDFs and the orders they bill
are never purged. Import files (the upload and errors.csv) go after UPLOAD_RETENTION_DAYS; the
import's figures stay with its job. 0 days keeps everything of that kind.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Column

from config.settings import Settings
from etl.retention import expired_imports, remove_files
from invoicing.models import Invoice
from jobs import retention
from jobs.db import Database, utcnow

# Columns whose rows need their job for ever (an invoice is found from its job, and the other way).
PROTECTED: list[Column[Any]] = [cast(Column[Any], Invoice.__table__.c.job_id)]


@dataclass(frozen=True)
class Purged:
    jobs: int
    files: int


def purge(db: Database, settings: Settings) -> Purged:
    now = utcnow()
    files = 0
    if settings.upload_retention_days > 0:
        with db.read_session() as session:
            expired = expired_imports(session, now - timedelta(days=settings.upload_retention_days))
        files = remove_files(settings.upload_dir, expired)
    jobs = 0
    if settings.job_retention_days > 0:
        def remove_their_files(ids: list[uuid.UUID]) -> None:
            nonlocal files
            files += remove_files(settings.upload_dir, ids)

        jobs = retention.purge_jobs(db, now - timedelta(days=settings.job_retention_days), PROTECTED,
                                    before_delete=remove_their_files)
    return Purged(jobs=jobs, files=files)


def past_retention(db: Database, settings: Settings) -> int:
    """Finished jobs a purge would remove now (a gauge: it stays near 0 while purges run)."""
    if settings.job_retention_days <= 0:
        return 0
    return retention.count_purgeable(db, utcnow() - timedelta(days=settings.job_retention_days), PROTECTED)
