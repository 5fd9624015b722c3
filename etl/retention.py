"""The files of imports past UPLOAD_RETENTION_DAYS: the upload and its errors.csv (the import's row and
its figures stay with its job)."""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from etl.models import ImportRun
from etl.storage import errors_path, upload_path


def remove_files(upload_dir: Path, job_ids: Sequence[uuid.UUID]) -> int:
    """Delete the upload and errors.csv of these imports; how many files were removed."""
    removed = 0
    for job_id in job_ids:
        for path in (upload_path(upload_dir, job_id), errors_path(upload_dir, job_id)):
            if path.exists():
                path.unlink()
                removed += 1
    return removed


def expired_imports(session: Session, cutoff: datetime) -> list[uuid.UUID]:
    """Imports untouched since before `cutoff` (a running import updates its row every chunk)."""
    return list(session.scalars(select(ImportRun.job_id).where(ImportRun.updated_at < cutoff)))
