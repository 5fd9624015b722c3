"""Dead letters: list the messages of the `<queue>.dead` queues without losing one, replay or discard them.

Listing takes messages with basic.get on a channel of its own and never acks them; before that
channel closes they are nacked back with requeue, so a listing leaves every queue as it found it.
A replay commits the job's new attempt with its outbox message, publishes that message with
publisher confirms, and only then acks the dead message; a discard acks it and records who did.
"""
from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from amqp.exceptions import AMQPError
from kombu import Connection
from kombu.exceptions import KombuError
from sqlalchemy import select

from jobs import audit, lifecycle
from jobs.audit import Actor, AuditAction
from jobs.db import Database
from jobs.enqueue import retry_job
from jobs.models import Job, OutboxMessage
from jobs.monitoring import broker_connection, iter_queue_depths
from jobs.publisher import BrokerUnavailable, OutboxPublisher
from jobs.states import JobState
from jobs.topology import DEAD_LETTER_SUFFIX, dead_letter_queue_names

log = logging.getLogger("jobs.dead_letters")

LIST_LIMIT = 200  # messages read by one listing, over all dead-letter queues
SCAN_LIMIT = 1000  # messages searched for one job's message, and handled by one replay-all or discard-all
IO_TIMEOUT_S = 5.0
BROKER_ERRORS: tuple[type[BaseException], ...] = (OSError, AMQPError, KombuError)


class DeadLettersUnavailable(RuntimeError):
    """The broker could not be reached or stopped answering."""


class DeadLetterNotFound(LookupError):
    """No dead-letter queue holds a message of this job (within SCAN_LIMIT messages)."""


class ReplayRefused(Exception):
    """The job of a dead message cannot get a new attempt (unknown, or no longer failed)."""


@dataclass(frozen=True)
class DeadMessage:
    """One message in a dead-letter queue, as its headers describe it."""

    queue: str
    delivery_tag: int
    job_id: uuid.UUID | None
    kind: str | None
    original_queue: str
    reason: str | None
    death_count: int
    died_at: datetime | None
    # Why the message cannot be read as a job's (missing or malformed headers or body); None when it can.
    # Such a message is listed with this reason and only discard-all removes it.
    problem: str | None = None

    @classmethod
    def parse(cls, queue: str, delivery_tag: int, headers: Any, body: bytes | str) -> DeadMessage:
        """Whatever the headers and body hold (a crafted or foreign message too): never raises."""
        problems: list[str] = []
        if not isinstance(headers, dict):
            headers = {}
        if not {"id", "task", "x-death"} & headers.keys():  # the broker may add x-delivery-count alone
            problems.append("the message has no headers of a job (id, task, x-death)")
        deaths = headers.get("x-death")
        death = deaths[0] if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict) else {}
        if deaths is not None and not death:
            problems.append("its x-death header is not a list of deaths")
        count = _count(death.get("count", 1))
        if count is None:
            problems.append("its death count is not a number of deaths")
        job_id = _job_id(headers, body)
        if job_id is None:
            problems.append("it names no job (no task id header, no job id argument)")
        return cls(
            queue=queue,
            delivery_tag=delivery_tag,
            job_id=job_id,
            kind=_text(headers.get("task")),
            original_queue=_text(death.get("queue")) or _text(headers.get("x-first-death-queue"))
            or queue.removesuffix(DEAD_LETTER_SUFFIX),
            reason=_text(death.get("reason")) or _text(headers.get("x-first-death-reason")),
            death_count=count or 1,
            died_at=_as_utc(death.get("time")),
            problem="; ".join(problems) or None,
        )


MAX_HEADER_TEXT = 200
MAX_PARSED_BODY = 64 * 1024  # a Celery message of a job is a few hundred bytes; bigger bodies are not parsed


def _text(value: Any) -> str | None:
    """A header value as short text (a crafted header may be anything: a table, bytes, megabytes)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str | int | float) or isinstance(value, bool) or value == "":
        return None
    return str(value)[:MAX_HEADER_TEXT]


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        count = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return count if 0 < count < 2**31 else None


def _as_utc(value: Any) -> datetime | None:
    """x-death `time` (py-amqp gives a naive UTC datetime)."""
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _job_id(headers: dict[str, Any], body: bytes | str) -> uuid.UUID | None:
    """The Celery task id, which is the job id (header `id`, else the first task argument)."""
    candidates: list[Any] = [headers.get("id")]
    if len(body) <= MAX_PARSED_BODY:
        try:
            args = json.loads(body)[0]
            candidates.append(args[0] if args else None)
        except (ValueError, TypeError, IndexError, KeyError, RecursionError):
            pass
    for candidate in candidates:
        if not isinstance(candidate, str | uuid.UUID) or len(str(candidate)) > MAX_HEADER_TEXT:
            continue
        try:
            return uuid.UUID(str(candidate))
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class DeadLetter:
    """A dead message with what the database says of its job (None fields for an unknown job)."""

    message: DeadMessage
    job_state: str | None
    error: dict[str, Any] | None
    attempts: int | None

    def age_s(self, now: datetime) -> float | None:
        died_at = self.message.died_at
        return None if died_at is None else max(0.0, (now - died_at).total_seconds())


@dataclass(frozen=True)
class DeadLetterListing:
    items: list[DeadLetter]
    totals: dict[str, int]  # ready messages per dead-letter queue when the listing began
    limit: int

    @property
    def truncated(self) -> bool:
        return len(self.items) < sum(self.totals.values())


@dataclass(frozen=True)
class Replayed:
    job_id: uuid.UUID
    published: bool  # False: the broker did not confirm; the relay publishes it and the dead message stays
    messages_acked: int


@dataclass
class BulkOutcome:
    """What replay-all or discard-all did: job ids handled, and the ones left with the reason."""

    done: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    messages_acked: int = 0


class DeadLetterChannel:
    """A broker connection with a channel of its own whose unacked messages all go back on close."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.channel = connection.channel()
        self._unacked: list[int] = []

    def depths(self) -> dict[str, int]:
        """Ready messages per dead-letter queue; a queue not declared yet counts 0."""
        return dict(iter_queue_depths(self.connection, dead_letter_queue_names()))

    def take(self, depths: dict[str, int], limit: int) -> list[DeadMessage]:
        """Up to `limit` messages, queue by queue, held unacked on this channel."""
        messages: list[DeadMessage] = []
        for name, ready in depths.items():
            while ready and len(messages) < limit:
                message = self.channel.basic_get(queue=name, no_ack=False)
                if message is None:
                    break
                self._unacked.append(message.delivery_tag)
                headers = message.headers
                messages.append(DeadMessage.parse(name, message.delivery_tag,
                                                  dict(headers) if isinstance(headers, dict) else None,
                                                  message.body))
        return messages

    def messages_of(self, job_id: uuid.UUID) -> list[DeadMessage]:
        """The job's dead messages (among the first SCAN_LIMIT), held unacked; DeadLetterNotFound if none."""
        found = [message for message in self.take(self.depths(), SCAN_LIMIT) if message.job_id == job_id]
        if not found:
            raise DeadLetterNotFound(f"no dead-letter queue holds a message of job {job_id}")
        return found

    def ack(self, messages: Sequence[DeadMessage]) -> None:
        for message in messages:
            self.channel.basic_ack(message.delivery_tag)
            self._unacked.remove(message.delivery_tag)

    def close(self) -> None:
        """Give back every message not acked (in order), then close; the close waits for the broker."""
        try:
            # Explicit rejects, oldest first, reach the queue before the close-ok (the close alone returns
            # them only when the queue notices the channel is gone), so the next listing sees them all.
            for tag in self._unacked:
                self.channel.basic_reject(tag, requeue=True)
            self.channel.close()
        finally:
            self.connection.release()


class DeadLetters:
    """List, replay and discard dead letters; every broker call is bounded by a limit and timeouts."""

    def __init__(self, broker_url: str, db: Database, publisher: OutboxPublisher, *,
                 connect_timeout_s: float, io_timeout_s: float = IO_TIMEOUT_S) -> None:
        self.broker_url = broker_url
        self.db = db
        self.publisher = publisher
        self.connect_timeout_s = connect_timeout_s
        self.io_timeout_s = io_timeout_s

    @contextmanager
    def _channel(self) -> Iterator[DeadLetterChannel]:
        """A dedicated channel; broker failures come out as DeadLettersUnavailable."""
        try:
            connection = broker_connection(self.broker_url, self.io_timeout_s, self.connect_timeout_s)
            connection.connect()
            box = DeadLetterChannel(connection)
        except BROKER_ERRORS as exc:
            raise DeadLettersUnavailable(f"the broker cannot be reached: {type(exc).__name__}: {exc}") from exc
        broken = False
        try:
            yield box
        except BROKER_ERRORS as exc:
            broken = True
            connection.release()  # unacked messages go back when the broker drops the connection
            raise DeadLettersUnavailable(f"the broker stopped answering: {type(exc).__name__}: {exc}") from exc
        finally:
            if not broken:
                try:
                    box.close()
                except BROKER_ERRORS as exc:
                    raise DeadLettersUnavailable(
                        f"the broker stopped answering: {type(exc).__name__}: {exc}") from exc

    def browse(self, limit: int = LIST_LIMIT) -> DeadLetterListing:
        """Up to `limit` dead messages with their jobs; every message stays in its queue."""
        with self._channel() as box:
            totals = box.depths()
            messages = box.take(totals, limit)
        with self.db.read_session() as session:
            ids = {message.job_id for message in messages if message.job_id is not None}
            jobs = {job.id: job for job in session.scalars(select(Job).where(Job.id.in_(ids)))} if ids else {}
        items = []
        for message in messages:
            job = jobs.get(message.job_id) if message.job_id else None
            items.append(DeadLetter(message, job.state if job else None, job.error if job else None,
                                    job.attempts if job else None))
        return DeadLetterListing(items=items, totals=totals, limit=limit)

    def replay(self, job_id: uuid.UUID, actor: Actor | None) -> Replayed:
        """Give a failed job a new attempt from its dead message; 409-worthy refusals raise ReplayRefused."""
        with self._channel() as box:
            found = box.messages_of(job_id)
            published = self._replay_job(job_id, actor)
            if published:
                box.ack(found)
        return Replayed(job_id=job_id, published=published, messages_acked=len(found) if published else 0)

    def discard(self, job_id: uuid.UUID, actor: Actor | None) -> int:
        """Remove the job's dead messages; the job stays as it is. Returns how many were removed."""
        with self._channel() as box:
            found = box.messages_of(job_id)
            box.ack(found)
        self._record_discards([job_id], actor)  # after the close: the broker has processed the acks
        return len(found)

    def replay_all(self, actor: Actor | None) -> BulkOutcome:
        """Replay every dead message (up to SCAN_LIMIT) whose job is failed; skip the others, saying why."""
        outcome = BulkOutcome()
        with self._channel() as box:
            for job_id, messages in _by_job(box.take(box.depths(), SCAN_LIMIT)).items():
                if job_id is None:
                    outcome.skipped.append({"job_id": "", "reason": "the message names no job"})
                    continue
                try:
                    published = self._replay_job(job_id, actor)
                except ReplayRefused as refused:
                    outcome.skipped.append({"job_id": str(job_id), "reason": str(refused)})
                    continue
                outcome.done.append(str(job_id))
                if published:
                    box.ack(messages)
                    outcome.messages_acked += len(messages)
        return outcome

    def discard_all(self, actor: Actor | None) -> BulkOutcome:
        """Remove every dead message (up to SCAN_LIMIT); their jobs stay as they are."""
        outcome = BulkOutcome()
        with self._channel() as box:
            grouped = _by_job(box.take(box.depths(), SCAN_LIMIT))
            for messages in grouped.values():
                box.ack(messages)
                outcome.messages_acked += len(messages)
        job_ids = [job_id for job_id in grouped if job_id is not None]
        self._record_discards(job_ids, actor)
        outcome.done = [str(job_id) for job_id in job_ids]
        return outcome

    def _replay_job(self, job_id: uuid.UUID, actor: Actor | None) -> bool:
        """New attempt, audit "replayed" and outbox message in one commit, then a confirmed publish."""
        with self.db.transaction() as session:
            try:
                job = lifecycle.load_for_update(session, job_id)
            except lifecycle.JobNotFound:
                raise ReplayRefused(f"job {job_id} is not in the database; discard its dead message") from None
            if job.state != JobState.FAILED:
                raise ReplayRefused(f"job {job_id} is {job.state}, not failed (it was retried or replayed "
                                    "already); discard its dead message")
            message = retry_job(session, job, actor, AuditAction.REPLAYED)
        return self._publish(message)

    def _publish(self, message: OutboxMessage) -> bool:
        try:
            sent = self.publisher.publish([message])
        except BrokerUnavailable as exc:
            log.warning("job_id=%s replay published by the relay later: %s", message.job_id, exc)
            return False
        self.publisher.mark_sent(sent)
        log.info("job_id=%s replayed from its dead letter queue=%s", message.job_id, message.queue)
        return True

    def _record_discards(self, job_ids: Sequence[uuid.UUID], actor: Actor | None) -> None:
        if not job_ids:
            return
        with self.db.transaction() as session:
            for job in session.scalars(select(Job).where(Job.id.in_(set(job_ids)))):
                audit.record(session, job, AuditAction.DISCARDED, actor)
                log.info("job_id=%s dead letter discarded state=%s", job.id, job.state)


def _by_job(messages: Sequence[DeadMessage]) -> dict[uuid.UUID | None, list[DeadMessage]]:
    grouped: dict[uuid.UUID | None, list[DeadMessage]] = {}
    for message in messages:
        grouped.setdefault(message.job_id, []).append(message)
    return grouped

