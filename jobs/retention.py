"""Purging what is no longer needed: finished jobs (with their attempts, audit trail, outbox rows and
idempotency keys, which live on the job's row or cascade with it) past JOB_RETENTION_DAYS.

A job that something still needs is kept: a family names the columns that reference a job and must
keep it (`protected`: an invoice's job_id), and a parent keeps its children's rows by ON DELETE SET
NULL. Unfinished jobs are never purged. Rows go in batches, each its own short transaction, so a
purge never holds a lock for long. Files are the families' business (etl.retention).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Column, CursorResult, delete, exists, func, select
from sqlalchemy.sql.elements import ColumnElement

from jobs.db import Database
from jobs.models import Job
from jobs.states import JobState

log = logging.getLogger("jobs.retention")

BATCH = 1000
FINISHED = [state.value for state in JobState if state.finished]


def purgeable(cutoff: datetime, protected: Sequence[Column[Any]]) -> ColumnElement[bool]:
    """Finished before `cutoff`, and referenced by none of the protected columns."""
    condition = Job.finished_at.is_not(None) & (Job.finished_at < cutoff) & Job.state.in_(FINISHED)
    for column in protected:
        condition = condition & ~exists().where(column == Job.id)
    return condition


def count_purgeable(db: Database, cutoff: datetime, protected: Sequence[Column[Any]]) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(Job).where(purgeable(cutoff, protected))) or 0


def purge_jobs(db: Database, cutoff: datetime, protected: Sequence[Column[Any]],
               before_delete: Callable[[list[Any]], None] = lambda ids: None) -> int:
    """Delete purgeable jobs in batches; `before_delete` gets each batch's ids first (to remove files)."""
    deleted = 0
    while True:
        with db.transaction() as session:
            ids = list(session.scalars(select(Job.id).where(purgeable(cutoff, protected)).limit(BATCH)))
            if not ids:
                break
            before_delete(ids)
            result = session.execute(delete(Job).where(Job.id.in_(ids)))
            deleted += cast(CursorResult[Any], result).rowcount
    if deleted:
        log.info("purged=%d finished jobs older than %s", deleted, cutoff.isoformat())
    return deleted
