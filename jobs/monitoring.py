"""Read-only figures operators watch: queue depths from the broker, the outbox backlog and job counts."""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from amqp.exceptions import NotFound
from kombu import Connection
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jobs.db import utcnow
from jobs.models import Job, OutboxMessage
from jobs.topology import QUEUES, SUBSCRIPTIONS, dead_letter_queue_name, dead_letter_queue_names

log = logging.getLogger(__name__)


def monitored_queue_names() -> list[str]:
    """Every task queue followed by every dead-letter queue, in topology order."""
    return [spec.name for spec in QUEUES] + dead_letter_queue_names()


def event_queue_names(others: str = "") -> list[str]:
    """The queues bound to the `events` exchange that are watched: the application's own subscriptions with
    their dead-letter queues, then the other services' named in EVENT_QUEUES (comma-separated)."""
    names = [name for subscription in SUBSCRIPTIONS
             for name in (subscription.queue, dead_letter_queue_name(subscription.queue))]
    for name in (part.strip() for part in others.split(",")):
        if name and name not in names:
            names.append(name)
    return names


def broker_connection(broker_url: str, timeout_s: float, connect_timeout_s: float | None = None) -> Connection:
    """A connection for operator reads: every read and write on it gives up after `timeout_s`, connecting
    after `connect_timeout_s` (default `timeout_s`)."""
    return Connection(broker_url, connect_timeout=timeout_s if connect_timeout_s is None else connect_timeout_s,
                      transport_options={"read_timeout": timeout_s, "write_timeout": timeout_s})


@dataclass(frozen=True)
class QueueFigures:
    """What a passive declare tells of a queue: messages ready for delivery and consumers attached."""

    ready: int
    consumers: int

    @property
    def stalled(self) -> bool:
        """Messages wait and nobody consumes them (a worker group is down)."""
        return self.ready > 0 and self.consumers == 0


def read_queue_figures(broker_url: str, timeout_s: float,
                       names: Iterable[str] | None = None) -> tuple[dict[str, QueueFigures], bool]:
    """Each queue's figures read from the broker within `timeout_s`, and whether it answered for every queue.

    A broker failure midway keeps what was read before it; it never raises.
    """
    figures: dict[str, QueueFigures] = {}
    try:
        with broker_connection(broker_url, timeout_s) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout_s)
            for name, ready, consumers in iter_queue_figures(connection, names):
                figures[name] = QueueFigures(ready, consumers)
    except Exception as error:  # noqa: BLE001 - an outage is reported as "broker down", never raised to a page
        log.warning("queue depths incomplete, broker unavailable: %s", str(error)[:200])
        return figures, False
    return figures, True


def queue_depths(connection: Connection) -> dict[str, int]:
    """Ready messages in every task and dead-letter queue; a queue that does not exist counts 0."""
    return dict(iter_queue_depths(connection))


def iter_queue_depths(connection: Connection, names: Iterable[str] | None = None) -> Iterator[tuple[str, int]]:
    """(queue, ready messages) of iter_queue_figures."""
    for name, ready, _consumers in iter_queue_figures(connection, names):
        yield name, ready


def iter_queue_figures(connection: Connection,
                       names: Iterable[str] | None = None) -> Iterator[tuple[str, int, int]]:
    """(queue, ready messages, consumers) one queue at a time (`names`, default every monitored queue), so a
    caller whose broker fails midway keeps what it got.

    A passive declare reads both without the management plugin. The broker closes a channel whose
    passive declare names a missing queue, so the next queue gets a fresh channel.
    """
    channel = connection.channel()
    try:
        for name in monitored_queue_names() if names is None else names:
            try:
                _name, ready, consumers = channel.queue_declare(name, passive=True)
            except NotFound:
                ready = consumers = 0
                channel = connection.channel()
            yield name, ready, consumers
    finally:
        channel.close()


@dataclass(frozen=True)
class OutboxBacklog:
    """Outbox rows not yet published, and how long the oldest has waited."""

    count: int
    oldest_age_s: float | None


def outbox_backlog(session: Session) -> OutboxBacklog:
    """Unsent outbox rows (the relay publishes them once the broker answers)."""
    count, oldest_at = session.execute(
        select(func.count(OutboxMessage.id), func.min(OutboxMessage.created_at)).where(OutboxMessage.sent_at.is_(None))
    ).one()
    oldest: datetime | None = oldest_at  # min() over no rows is NULL
    if oldest is None:
        return OutboxBacklog(count=count, oldest_age_s=None)
    return OutboxBacklog(count=count, oldest_age_s=max(0.0, (utcnow() - oldest).total_seconds()))


def job_counts(session: Session) -> dict[tuple[str, str], int]:
    """Number of jobs per (kind, state); combinations without jobs are absent."""
    rows = session.execute(select(Job.kind, Job.state, func.count()).group_by(Job.kind, Job.state))
    return {(kind, state): count for kind, state, count in rows}
