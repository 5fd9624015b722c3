"""CSV imports: upload (multipart `file` + `dataset`), summary, and the rejected rows as CSV."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request, send_file
from sqlalchemy.orm import Session

from accounts.roles import Role
from etl.importer import import_csv, summary
from etl.models import ImportRun
from etl.storage import errors_path
from etl.submit import UploadRejected, check_dataset, import_params, record_import, stage_upload
from jobs.models import AnyJob, Job
from webapp.access import requires
from webapp.api.jobs import accepted
from webapp.errors import ApiError
from webapp.queries import parse_job_id
from webapp.rate_limits import submit_rate_limits
from webapp.runtime import runtime
from webapp.security import accepts_uploads
from webapp.serializers import errors_csv_url, iso, job_to_dict
from webapp.submit import submit

bp = Blueprint("etl_api", __name__, url_prefix="/api/etl")


def rejected(error: UploadRejected) -> ApiError:
    return ApiError(422, "the upload cannot be imported", [{"field": error.field, "reason": error.reason}])


def accept_upload(dataset_field: str | None, upload: Any) -> AnyJob:
    """Check the form, store the file, write the job; UploadRejected naming the field at fault."""
    dataset = check_dataset(dataset_field)
    if upload is None or not upload.filename:
        raise UploadRejected("file", "required: the CSV file to import (.csv or .csv.gz)")
    job_id, path, run = stage_upload(upload.stream, dataset, runtime().settings.upload_dir)
    filename = Path(upload.filename).name
    try:
        job, new = submit(import_csv, import_params(run, filename), job_id=job_id,
                          alongside=lambda session, _job: record_import(session, run, filename))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if not new:  # an Idempotency-Key replay: the first request's file is the import's
        path.unlink(missing_ok=True)
    return job


@bp.post("")
@requires(Role.OPERATOR)
@accepts_uploads
@submit_rate_limits
def upload_csv() -> Response:
    try:
        job = accept_upload(request.form.get("dataset"), request.files.get("file"))
    except UploadRejected as error:
        raise rejected(error) from None
    return accepted(job)


def import_or_404(session: Session, raw_id: str) -> ImportRun:
    run = session.get(ImportRun, parse_job_id(raw_id))
    if run is None:
        raise ApiError(404, f"no import with job id {raw_id!r}")
    return run


def import_to_dict(run: ImportRun, job: Job) -> dict[str, Any]:
    duration = job.result.get("duration_s") if job.result else None
    return summary(run, duration) | {
        "errors_url": errors_csv_url(run.job_id),
        "job_id": str(run.job_id),
        "state": job.state,
        "filename": run.filename,
        "size_bytes": run.size_bytes,
        "encoding": run.encoding,
        "delimiter": run.delimiter,
        "compressed": run.compressed,
        "finished": run.finished,
        "created_at": iso(run.created_at),
    }


@bp.get("/<job_id>")
def get_import(job_id: str) -> Response:
    with runtime().db.read_session() as session:
        run = import_or_404(session, job_id)
        job = session.get(Job, run.job_id)
        assert job is not None
        return jsonify(import_to_dict(run, job) | {"job": job_to_dict(job)})


@bp.get("/<job_id>/errors.csv")
def get_errors_csv(job_id: str) -> Response:
    with runtime().db.read_session() as session:
        run = import_or_404(session, job_id)
    path = errors_path(runtime().settings.upload_dir, uuid.UUID(str(run.job_id)))
    if not path.exists():
        raise ApiError(404, "no errors report: the import has not started yet, or its files were deleted after "
                            "UPLOAD_RETENTION_DAYS")
    return send_file(path, mimetype="text/csv", as_attachment=True, download_name=f"import-{run.job_id}-errors.csv",
                     max_age=0)
