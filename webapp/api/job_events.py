"""Server-Sent Events for one job: the live job page follows its job without polling.

A stream sends the job (the same JSON as GET /api/jobs/<id>) whenever it changes, ends when the job
finishes, and otherwise after SSE_MAX_S so that no thread is held for ever; the browser's EventSource
reconnects by itself and sends Last-Event-ID (the job's ETag) so an unchanged job is not sent twice.
Each web process serves at most SSE_MAX_STREAMS streams at once, and at most SSE_MAX_STREAMS_PER_USER
to one user, so that one person's tabs (or a script) cannot hold every slot; past either limit it
answers with Retry-After (503 for the server's, 429 for the user's) and the page polls the status
endpoint instead.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator

from flask import Blueprint, Response, current_app, request, stream_with_context

from jobs import lifecycle
from jobs.db import Database
from jobs.states import JobState
from webapp.access import current_identity
from webapp.errors import ApiError
from webapp.queries import get_job_or_404
from webapp.runtime import runtime
from webapp.serializers import job_etag, job_to_dict

bp = Blueprint("job_events", __name__, url_prefix="/api/jobs")

HEARTBEAT_S = 15.0


class StreamSlots:
    """Per-process caps on open event streams: in all, and per user."""

    def __init__(self, limit: int, per_user: int) -> None:
        self.limit = limit
        self.per_user = per_user
        self._held: Counter[int] = Counter()
        self._lock = threading.Lock()

    def acquire(self, user_id: int) -> None:
        """Take a slot for `user_id`, or raise the ApiError that sends the page to polling."""
        with self._lock:
            if self._held.total() >= self.limit:
                raise ApiError(503, "too many live streams on this server; poll GET /api/jobs/<id> instead",
                               headers={"Retry-After": "1"})
            if self._held[user_id] >= self.per_user:
                raise ApiError(429, f"you already hold {self.per_user} live streams on this server; "
                               "poll GET /api/jobs/<id> instead", headers={"Retry-After": "1"})
            self._held[user_id] += 1

    def release(self, user_id: int) -> None:
        with self._lock:
            self._held[user_id] -= 1
            if self._held[user_id] <= 0:
                del self._held[user_id]


def stream_slots() -> StreamSlots:
    slots = current_app.extensions.get("job_event_slots")
    if slots is None:
        settings = runtime().settings
        slots = current_app.extensions["job_event_slots"] = StreamSlots(settings.sse_max_streams,
                                                                        settings.sse_max_streams_per_user)
    return slots


def event(name: str, data: str, event_id: str | None = None) -> str:
    lines = [f"event: {name}"] + ([f"id: {event_id}"] if event_id else []) + [f"data: {data}"]
    return "\n".join(lines) + "\n\n"


def job_snapshot(db: Database, job_id: uuid.UUID, last_seen: str | None) -> tuple[str, str | None, bool] | None:
    """(etag, job JSON, finished) for the job now, or None if it has been deleted.

    The JSON (with the attempts and the audit trail, two more queries) is built only when the ETag is
    not `last_seen`: most polls of a running job find it unchanged.
    """
    with db.read_session() as session:
        try:
            job = lifecycle.load(session, job_id)
        except lifecycle.JobNotFound:
            return None
        etag, finished = job_etag(job), JobState(job.state).finished
        if etag == last_seen:
            return etag, None, finished
        body = job_to_dict(job, attempts=list(job.attempt_history), audit_trail=list(job.audit_trail))
        return etag, json.dumps(body), finished


def job_events(db: Database, job_id: uuid.UUID, last_seen: str | None, *, max_s: float, poll_s: float,
               retry_ms: int) -> Iterator[str]:
    """The event stream's lines: a `job` event per change, `end` when the job has finished."""
    deadline = time.monotonic() + max_s
    next_heartbeat = time.monotonic() + HEARTBEAT_S
    yield f"retry: {retry_ms}\n\n"
    while True:
        snapshot = job_snapshot(db, job_id, last_seen)
        if snapshot is None:
            yield event("end", json.dumps({"reason": "job deleted"}))
            return
        etag, body, finished = snapshot
        if body is not None:
            last_seen = etag
            yield event("job", body, etag)
        if finished:
            yield event("end", json.dumps({"reason": "job finished"}))
            return
        now = time.monotonic()
        if now >= deadline:
            return  # the browser reconnects after `retry` ms with Last-Event-ID
        if now >= next_heartbeat:
            next_heartbeat = now + HEARTBEAT_S
            yield ": keep-alive\n\n"
        time.sleep(poll_s)


@bp.get("/<job_id>/events")
def stream_job_events(job_id: str) -> Response:
    rt = runtime()
    with rt.db.read_session() as session:
        key = get_job_or_404(session, job_id).id
    slots = stream_slots()
    user_id = current_identity().user_id
    slots.acquire(user_id)
    settings = rt.settings
    events = job_events(rt.db, key, request.headers.get("Last-Event-ID"), max_s=settings.sse_max_s,
                        poll_s=settings.sse_poll_interval_s, retry_ms=1000)
    # stream_with_context: the job's JSON links are built with url_for while the stream runs.
    response = Response(stream_with_context(events), mimetype="text/event-stream")
    # The server closes the response whether the stream ended, the client left or it never started.
    response.call_on_close(lambda: slots.release(user_id))
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # a proxy in front must not buffer the stream
    return response
