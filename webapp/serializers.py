"""The job object of the REST contract."""
from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from jobs.models import Job, JobAttempt, JobAuditEntry


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def job_url(job_id: object) -> str:
    return f"/api/jobs/{job_id}"


def job_to_dict(
    job: Job, *, attempts: list[JobAttempt] | None = None, audit_trail: list[JobAuditEntry] | None = None
) -> dict[str, Any]:
    total = job.progress_total
    percent = round(100.0 * job.progress_done / total, 1) if total else None
    body: dict[str, Any] = {
        "id": str(job.id),
        "kind": job.kind,
        "state": job.state,
        "queue": job.queue,
        "params": job.params,
        "progress": {"done": job.progress_done, "total": total, "percent": percent, "message": job.progress_message},
        "attempts": job.attempts,
        "cancel_requested": job.cancel_requested,
        "submitted_by": job.submitted_by,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "updated_at": iso(job.updated_at),
        "result": job.result,
        "error": job.error,
        "links": {"self": job_url(job.id)},
    }
    if attempts is not None:
        body["attempt_history"] = [
            {
                "number": attempt.number,
                "outcome": attempt.outcome,
                "worker": attempt.worker,
                "error": attempt.error,
                "started_at": iso(attempt.started_at),
                "finished_at": iso(attempt.finished_at),
            }
            for attempt in attempts
        ]
    if audit_trail is not None:
        body["audit"] = [
            {"action": entry.action, "by": entry.actor, "via": entry.via, "at": iso(entry.at)} for entry in audit_trail
        ]
    return body


def job_etag(job: Job) -> str:
    """Changes whenever anything a client sees changes (every write stamps updated_at)."""
    material = f"{job.id}|{job.state}|{job.updated_at.isoformat()}|{job.attempts}|{job.progress_done}"
    return hashlib.sha1(material.encode()).hexdigest()[:20]
