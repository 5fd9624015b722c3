"""REST endpoints over dead letters: list them, replay or discard one, replay or discard them all."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, ConfigDict, Field

from accounts.roles import Role
from jobs.db import utcnow
from jobs.dead_letters import (
    LIST_LIMIT,
    SCAN_LIMIT,
    DeadLetter,
    DeadLetterListing,
    DeadLetterNotFound,
    DeadLetters,
    DeadLettersUnavailable,
    ReplayRefused,
)
from jobs.models import Job
from webapp.access import current_actor, requires
from webapp.api.requests import query_args
from webapp.errors import ApiError
from webapp.runtime import runtime
from webapp.serializers import iso, job_to_dict, job_url

bp = Blueprint("dead_letters_api", __name__, url_prefix="/api/dead-letters")


def dead_letters() -> DeadLetters:
    """The dead letters of the app's broker, with the app's database and outbox publisher."""
    rt = runtime()
    return DeadLetters(rt.settings.broker_url, rt.db, rt.publisher,
                       connect_timeout_s=rt.settings.broker_connect_timeout_s)


@contextmanager
def dead_letter_errors() -> Iterator[None]:
    """Broker outage 503, no such dead message 404, a replay the job's state forbids 409."""
    try:
        yield
    except DeadLettersUnavailable as exc:
        raise ApiError(503, f"dead letters are unavailable: {exc}; try again once the broker is back") from None
    except DeadLetterNotFound as exc:
        raise ApiError(404, str(exc)) from None
    except ReplayRefused as exc:
        raise ApiError(409, str(exc)) from None


def parse_dead_letter_job_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ApiError(404, f"no dead letter of a job with id {raw!r}") from None


def dead_letter_to_dict(item: DeadLetter) -> dict[str, Any]:
    message = item.message
    age = item.age_s(utcnow())
    return {
        "queue": message.queue,
        "original_queue": message.original_queue,
        "job_id": str(message.job_id) if message.job_id else None,
        "kind": message.kind,
        "job_state": item.job_state,
        "error": item.error,
        "attempts": item.attempts,
        "death_reason": message.reason,
        "death_count": message.death_count,
        "died_at": iso(message.died_at),
        "unparseable": message.problem,
        "age_s": round(age, 1) if age is not None else None,
        "links": {"job": job_url(message.job_id) if message.job_id else None},
    }


def listing_to_dict(listing: DeadLetterListing) -> dict[str, Any]:
    return {
        "items": [dead_letter_to_dict(item) for item in listing.items],
        "queues": [{"queue": name, "total": total} for name, total in listing.totals.items()],
        "total": sum(listing.totals.values()),
        "limit": listing.limit,
        "truncated": listing.truncated,
    }


def current_job(job_id: uuid.UUID) -> dict[str, Any] | None:
    with runtime().db.read_session() as session:
        job = session.get(Job, job_id)
        return job_to_dict(job) if job else None


class DeadLetterQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(LIST_LIMIT, ge=1, le=SCAN_LIMIT)


@bp.get("")
@requires(Role.OPERATOR)
def list_dead_letters() -> Response:
    query = query_args(DeadLetterQuery)
    with dead_letter_errors():
        listing = dead_letters().browse(query.limit)
    return jsonify(listing_to_dict(listing))


@bp.post("/<job_id>/replay")
@requires(Role.OPERATOR)
def replay_dead_letter(job_id: str) -> Response:
    key = parse_dead_letter_job_id(job_id)
    with dead_letter_errors():
        replayed = dead_letters().replay(key, current_actor())
    response = jsonify({"job_id": str(key), "published": replayed.published,
                        "messages_removed": replayed.messages_acked, "job": current_job(key)})
    response.status_code = 202
    response.headers["Location"] = job_url(key)
    return response


@bp.post("/<job_id>/discard")
@requires(Role.OPERATOR)
def discard_dead_letter(job_id: str) -> Response:
    key = parse_dead_letter_job_id(job_id)
    with dead_letter_errors():
        removed = dead_letters().discard(key, current_actor())
    return jsonify({"job_id": str(key), "messages_removed": removed, "job": current_job(key)})


@bp.post("/replay-all")
@requires(Role.OPERATOR)
def replay_all_dead_letters() -> Response:
    with dead_letter_errors():
        outcome = dead_letters().replay_all(current_actor())
    return jsonify({"replayed": outcome.done, "skipped": outcome.skipped, "messages_removed": outcome.messages_acked})


@bp.post("/discard-all")
@requires(Role.OPERATOR)
def discard_all_dead_letters() -> Response:
    with dead_letter_errors():
        outcome = dead_letters().discard_all(current_actor())
    return jsonify({"discarded": outcome.done, "messages_removed": outcome.messages_acked})
