"""Where an import's files live: the upload and its errors report, under UPLOAD_DIR, named by job id."""
from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

COPY_BUFFER = 1 << 20


def upload_path(upload_dir: Path, job_id: uuid.UUID) -> Path:
    return upload_dir / f"{job_id}.upload"


def errors_path(upload_dir: Path, job_id: uuid.UUID) -> Path:
    return upload_dir / f"{job_id}.errors.csv"


def store_upload(source: BinaryIO, upload_dir: Path, job_id: uuid.UUID) -> Path:
    """Copy an uploaded stream to its place in buffered pieces (never whole in memory)."""
    upload_dir.mkdir(parents=True, exist_ok=True)
    target = upload_path(upload_dir, job_id)
    partial = target.with_suffix(".partial")
    try:
        with partial.open("wb") as out:
            shutil.copyfileobj(source, out, COPY_BUFFER)
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target
