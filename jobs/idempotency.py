"""Idempotency keys: the same key and request give the first job again; another request with it is refused.

Keys are scoped by the caller (a user) and the job kind and kept with the job (jobs are never
purged, so keys outlive the 24 hours clients are promised). On PostgreSQL a transaction-scoped
advisory lock on the key tells "a request with this key is being accepted right now" (409) from
"it was accepted" (the first job); SQLite's write lock makes the second request wait for the first.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from jobs.audit import Actor
from jobs.enqueue import submit_job
from jobs.models import Job, OutboxMessage

MAX_KEY_LENGTH = 200


class KeyInFlight(Exception):
    """Another request with the same key is still being accepted."""


class KeyReused(Exception):
    """The key was used before with a different request."""


def scoped_key(owner: str, key: str) -> str:
    return f"{owner}:{key}"


def submit_once(
    session: Session, kind: str, params: dict[str, Any], *, key: str, owner: str, actor: Actor | None
) -> tuple[Job, OutboxMessage | None]:
    """The job for this key: new (with its outbox message), or the one an identical earlier request made."""
    scoped = scoped_key(owner, key)
    if session.get_bind().dialect.name == "postgresql":
        locked = session.scalar(text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))"),
                                {"key": f"{kind}|{scoped}"})
        if not locked:
            raise KeyInFlight(key)
    existing = session.scalar(select(Job).where(Job.kind == kind, Job.idempotency_key == scoped))
    if existing is not None:
        if existing.params != params:
            raise KeyReused(key)
        return existing, None
    return submit_job(session, kind, params, idempotency_key=scoped, actor=actor)
