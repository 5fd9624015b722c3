"""Domain events: what happened (`invoice.issued`, `job.failed`), for any service that binds a queue.

An event is written to the outbox in the same transaction as the change it reports, so it is never
sent for a change that was rolled back and never lost while the broker is down; the fast path or
the relay publishes it, persistent and confirmed, to the topic exchange `events` with its type as
the routing key. Its body is a CloudEvents 1.0 envelope in JSON (structured mode), built by the
CNCF SDK: `id` (unique; subscribers deduplicate on it), `source`, `type`, `time`, `subject`
(e.g. `invoices/<id>`), `datacontenttype`, `data`, and the extension `jobid`, the job whose work it
reports (also the AMQP correlation id).

Each type is declared once, beside the code that emits it, with the fields of its `data`;
docs/asyncapi.yaml documents the same list and a test keeps the two equal.
"""
from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any

from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from sqlalchemy import insert
from sqlalchemy.orm import Session

from jobs.db import AFTER_COMMIT, utcnow
from jobs.models import OutboxMessage, OutboxRow
from jobs.topology import EVENTS_EXCHANGE

SOURCE = "/background-jobs"
CONTENT_TYPE = "application/cloudevents+json"
# Modules that declare event types besides the job kinds' modules (jobs.kinds.KIND_MODULES).
EVENT_MODULES = ("jobs.lifecycle",)


@dataclass(frozen=True)
class EventType:
    """A kind of domain event: its name (the routing key), what it means and the fields of its data."""

    name: str
    summary: str
    data: tuple[str, ...]

    def __str__(self) -> str:
        return self.name


_declared: dict[str, EventType] = {}


def event_type(name: str, summary: str, data: tuple[str, ...]) -> EventType:
    """Declare an event type (at module level, beside the code that emits it)."""
    declared = EventType(name, summary, data)
    if _declared.get(name, declared) != declared:
        raise ValueError(f"event type {name!r} is declared twice, differently")
    _declared[name] = declared
    return declared


@cache
def declared_event_types() -> Mapping[str, EventType]:
    """Every declared event type by name (the declaring modules are imported on first use)."""
    from jobs.kinds import KIND_MODULES

    for module in (*EVENT_MODULES, *KIND_MODULES):
        importlib.import_module(module)
    return MappingProxyType(dict(sorted(_declared.items())))


def envelope(kind: EventType, subject: str, data: dict[str, Any], job_id: uuid.UUID) -> dict[str, Any]:
    """The event's CloudEvent as JSON-ready attributes (what the body of its message will be)."""
    missing = set(kind.data) - data.keys()
    if missing:
        raise ValueError(f"{kind.name} event without {', '.join(sorted(missing))}")
    event = CloudEvent(attributes={
        "id": str(uuid.uuid4()), "source": SOURCE, "type": kind.name, "time": utcnow(), "subject": subject,
        "datacontenttype": "application/json", "jobid": str(job_id)}, data=data)
    written: dict[str, Any] = json.loads(JSONFormat().write(event))
    return written


def emit(session: Session, kind: EventType, subject: str, data: dict[str, Any], job_id: uuid.UUID) -> OutboxRow:
    """Write the event to the outbox in `session`'s transaction; it is published once that commits
    (by whoever commits it, jobs.db.Database.transaction's after_commit, else by the relay)."""
    event = envelope(kind, subject, data, job_id)
    outbox_id = session.execute(insert(OutboxMessage).returning(OutboxMessage.id), {
        "job_id": job_id, "task_name": kind.name, "queue": EVENTS_EXCHANGE.name, "event": event,
        "created_at": utcnow(), "sent_at": None, "publish_attempts": 0, "last_error": None}).scalar_one()
    row = OutboxRow(outbox_id, job_id, kind.name, EVENTS_EXCHANGE.name, event)
    session.info.setdefault(AFTER_COMMIT, []).append(row)
    return row


def event_body(event: Mapping[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()
