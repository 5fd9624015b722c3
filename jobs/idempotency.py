"""Idempotency keys: the same key and request give the first job again; another request with it is refused.

Keys are scoped by an owner (the calling user, for requests) and the job kind, and kept with the
job (jobs are never purged, so keys outlive the 24 hours clients are promised). A job's follow-up
(an invoice's email) uses an unscoped key that names what it follows. On PostgreSQL a
transaction-scoped advisory lock on the key tells "a request with this key is being accepted right
now" (KeyInFlight, or a wait when `wait`) from "it was accepted" (the first job); SQLite's write
lock makes the second request wait for the first.
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from jobs.audit import Actor
from jobs.enqueue import submit_job
from jobs.kinds import JobKind, as_kind
from jobs.models import AnyJob, Job, OutboxRow

MAX_KEY_LENGTH = 200


class KeyInFlight(Exception):
    """Another request with the same key is still being accepted."""


class KeyReused(Exception):
    """The key was used before with a different request."""


def scoped_key(owner: str, key: str) -> str:
    return f"{owner}:{key}"


def submit_once(
    session: Session,
    kind: JobKind | str,
    params: dict[str, Any],
    *,
    key: str,
    owner: str | None = None,
    actor: Actor | None = None,
    job_id: uuid.UUID | None = None,
    wait: bool = False,
) -> tuple[AnyJob, OutboxRow | None]:
    """The job for this key: new (with its outbox message), or the one an identical earlier request made.

    `wait` waits for a concurrent transaction holding the key instead of raising KeyInFlight.
    """
    declared = as_kind(kind)
    stored_key = scoped_key(owner, key) if owner is not None else key
    if session.get_bind().dialect.name == "postgresql":
        lock_key = {"key": f"{declared.name}|{stored_key}"}
        if wait:
            session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), lock_key)
        elif not session.scalar(text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))"), lock_key):
            raise KeyInFlight(key)
    existing = session.scalar(select(Job).where(Job.kind == declared.name, Job.idempotency_key == stored_key))
    if existing is not None:
        if existing.params != params:
            raise KeyReused(key)
        return existing, None
    return submit_job(session, declared, params, idempotency_key=stored_key, actor=actor, job_id=job_id)
