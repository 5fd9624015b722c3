"""The audit trail of a job: one entry per action a person or program took on it."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

from jobs.db import utcnow
from jobs.models import Job, JobAuditEntry


class AuditAction(StrEnum):
    SUBMITTED = "submitted"
    CANCELLED = "cancelled"
    RETRIED = "retried"
    REPLAYED = "replayed"
    DISCARDED = "discarded"
    FLOWER_CONTROL = "flower control"  # revoked, aborted or limited through Flower (webapp/flower_proxy.py)


@dataclass(frozen=True)
class Actor:
    """Who acted (an email) and how they were authenticated."""

    name: str
    via: str


def record(session: Session, job: Job, action: AuditAction, actor: Actor | None) -> JobAuditEntry:
    entry = JobAuditEntry(
        job_id=job.id, action=action.value, actor=actor.name if actor else None,
        via=actor.via if actor else None, at=utcnow(),
    )
    session.add(entry)
    return entry
