"""ETL import tasks (queue `etl`)."""
from __future__ import annotations

from typing import Any

from etl.importer import ImportOptions, run_import
from jobs.context import JobContext
from tasks.base import job_task
from tasks.runtime import worker_settings


def import_csv(ctx: JobContext) -> dict[str, Any]:
    """Import an uploaded CSV into its dataset's table."""
    settings = worker_settings()
    options = ImportOptions(upload_dir=settings.upload_dir, rows_per_chunk=settings.etl_chunk_rows,
                            reject_threshold_pct=settings.etl_reject_threshold_pct)
    return run_import(ctx, options)


import_task = job_task("etl.import")(import_csv)
