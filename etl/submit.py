"""Accepting an upload: check its header against the dataset, then write the job and its import together."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from etl.csv_format import CsvFormatError, inspect_csv
from etl.datasets import DATASETS
from etl.header_map import HeaderError, map_header
from etl.models import FIRST_DATA_LINE, ImportPhase, ImportRun
from etl.storage import store_upload

MAX_FILENAME = 255


class UploadRejected(ValueError):
    """The upload cannot become an import; `field` is the form field to blame."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def check_dataset(name: str | None) -> str:
    if not name:
        raise UploadRejected("dataset", f"required; one of {', '.join(sorted(DATASETS))}")
    if name not in DATASETS:
        raise UploadRejected("dataset", f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    return name


def stage_upload(source: BinaryIO, dataset: str, upload_dir: Path) -> tuple[uuid.UUID, Path, ImportRun]:
    """Store the file under a new job id and read its header; UploadRejected (file removed) if it is unusable."""
    job_id = uuid.uuid4()
    path = store_upload(source, upload_dir, job_id)
    try:
        fmt = inspect_csv(path)
        columns = map_header(DATASETS[dataset], fmt.header)
    except (CsvFormatError, HeaderError) as error:
        path.unlink(missing_ok=True)
        raise UploadRejected("file", str(error)) from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    run = ImportRun(
        job_id=job_id, dataset=dataset, filename="", stored_path=str(path), size_bytes=path.stat().st_size,
        compressed=fmt.compressed, encoding=None, delimiter=fmt.delimiter, header=list(fmt.header),
        unknown_columns=list(columns.unknown_columns), data_offset=fmt.data_offset, offset=fmt.data_offset,
        line=FIRST_DATA_LINE, phase=ImportPhase.LOADING,
        errors_bytes=0, rows_read=0, rows_inserted=0, rows_updated=0, rows_unchanged=0, rows_rejected=0,
        finished=False,
    )
    return job_id, path, run


def import_params(run: ImportRun, filename: str) -> dict[str, Any]:
    """The `etl.import` job's params: its dataset and the uploaded file's name."""
    return {"dataset": run.dataset, "filename": filename[:MAX_FILENAME]}


def record_import(session: Session, run: ImportRun, filename: str) -> None:
    """Add the ImportRun beside its job, in the transaction that writes the job."""
    run.filename = filename[:MAX_FILENAME]
    session.add(run)
    session.flush()
