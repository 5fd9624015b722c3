"""Publishing outbox messages with publisher confirms: the fast path after a commit, and the relay's sends."""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from amqp.exceptions import MessageNacked
from celery import Celery
from kombu import Connection, Producer
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from jobs import metrics
from jobs.celery_app import declare_topology
from jobs.confirms import PipelinedConfirms
from jobs.db import Database, utcnow
from jobs.events import CONTENT_TYPE, event_body
from jobs.models import OutboxMessage
from jobs.topology import EVENTS_EXCHANGE, JOBS_EXCHANGE

log = logging.getLogger("jobs.outbox")

MARK_SENT = "UPDATE outbox_messages SET sent_at = %(now)s WHERE id = ANY(%(ids)s)"
TEMPLATE_ID = "00000000-0000-0000-0000-000000000000"


class OutboxItem(Protocol):
    """What publishing needs of an outbox row: an OutboxMessage, or an OutboxRow."""

    @property
    def id(self) -> int: ...
    @property
    def job_id(self) -> uuid.UUID: ...
    @property
    def task_name(self) -> str: ...
    @property
    def queue(self) -> str: ...
    @property
    def event(self) -> dict[str, Any] | None: ...


def _confirmed(message: OutboxItem, sent: list[int]) -> None:
    sent.append(message.id)
    if message.event is not None:
        metrics.count_event_published(message.task_name)


class BrokerUnavailable(RuntimeError):
    """The broker could not be reached or did not confirm a publish.

    `sent` holds the ids the broker confirmed before the failure, and `failed_id` the one it did not.
    """

    def __init__(self, message: str, *, sent: list[int] | None = None, failed_id: int | None = None) -> None:
        super().__init__(message)
        self.sent = sent or []
        self.failed_id = failed_id


class OutboxPublisher:
    """Publishes outbox messages with publisher confirms over one long-lived connection.

    After a failure it stays quiet for `outage_cooldown_s`, so requests do not each wait for a
    broker that is down: their messages stay in the outbox for the relay.
    """

    def __init__(self, celery_app: Celery, db: Database, *, outage_cooldown_s: float = 5.0) -> None:
        self.celery_app = celery_app
        self.db = db
        self.outage_cooldown_s = outage_cooldown_s
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self._confirms: PipelinedConfirms | None = None
        self._down_until = 0.0
        self._templates: dict[str, Any] = {}

    def _ensure_producer(self) -> Producer:
        if self._producer is None:
            connection = self.celery_app.connection_for_write()
            # One quick try: a broker that is down must not hold a web request.
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=None)
            # Messages go straight to the `jobs` exchange (not through send_task, which declared the
            # queue it routed to), so the topology is declared once per connection, as workers do.
            declare_topology(connection)
            self._connection = connection
            self._producer = self.celery_app.amqp.Producer(connection, auto_declare=False)
            self._confirms = PipelinedConfirms(self._producer.channel)
        return self._producer

    def _reset(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:
                log.debug("closing a broken broker connection failed", exc_info=True)
        self._connection = self._producer = None
        self._confirms = None

    def publish(self, messages: Sequence[OutboxItem]) -> list[int]:
        """Publish in order, stopping at the first failure; return the ids that the broker confirmed.

        Confirms are pipelined: the whole batch is sent, then the broker's acks are awaited once.
        A connection that had worked before and has gone stale (broker restart) gets one fresh
        try for what it did not confirm.
        """
        sent: list[int] = []
        with self._lock:
            fresh_try_left = True
            while True:
                had_connection = self._producer is not None
                confirmed_before = len(sent)
                try:
                    self._publish_batch(messages[len(sent):], sent)
                    return sent
                except Exception as exc:
                    self._reset()
                    worked = had_connection or len(sent) > confirmed_before
                    if worked and fresh_try_left:
                        fresh_try_left = False
                        continue
                    self._down_until = time.monotonic() + self.outage_cooldown_s
                    raise BrokerUnavailable(f"{type(exc).__name__}: {exc}", sent=sent,
                                            failed_id=messages[len(sent)].id) from exc

    def _publish_batch(self, batch: Sequence[OutboxItem], sent: list[int]) -> None:
        """Send `batch`, wait for its confirms once, and append the confirmed prefix's ids to `sent`."""
        if not batch:
            return
        self._ensure_producer()
        confirms = self._confirms
        if confirms is None:  # a producer without a confirm channel: each send returns once published
            for message in batch:
                self._send(message)
                _confirmed(message, sent)
            return
        ends: list[int] = []
        already = len(sent)
        try:
            for message in batch:
                self._send(message)
                ends.append(confirms.published)
            confirms.wait_through(ends[-1])
        finally:
            for message, end in zip(batch, ends, strict=False):
                if not confirms.confirmed_through(end):
                    break
                _confirmed(message, sent)
        if len(sent) - already < len(batch):
            raise MessageNacked("the broker refused a message")

    def task_message(self, task_name: str, job_id: str) -> tuple[dict[str, Any], dict[str, Any], Any]:
        """(headers, properties, body) of a job's Celery task message: protocol 2, the job id as task id and
        argument. Celery builds the first message of each task name; the others are copies of it with the
        job's id put in, which costs a tenth as much (a test compares them with Celery's own)."""
        template = self._templates.get(task_name)
        if template is None:
            template = self._templates[task_name] = self.celery_app.amqp.as_task_v2(TEMPLATE_ID, task_name,
                                                                                    args=[TEMPLATE_ID])
        headers, properties, body, _sent_event = template
        return ({**headers, "id": job_id, "root_id": job_id, "argsrepr": repr([job_id])},
                {**properties, "correlation_id": job_id}, ([job_id], body[1], body[2]))

    def _send(self, message: OutboxItem) -> None:
        """Published straight to the `jobs` exchange: send_task's routing, signals and retry wrappers cost more
        than the publish itself, and none of them applies to a message whose queue is already known."""
        if message.event is not None:
            self._send_event(message.task_name, message.event)
            return
        headers, properties, body = self.task_message(message.task_name, str(message.job_id))
        self._ensure_producer().publish(body, exchange=JOBS_EXCHANGE.name, routing_key=message.queue,
                                        headers=headers, serializer="json", delivery_mode=2, retry=False,
                                        declare=None, **properties)

    def _send_event(self, event_type: str, event: dict[str, Any]) -> None:
        """A domain event to the `events` exchange, routed by its type: its CloudEvent as the body (structured
        mode), its id as the message id and its job as the correlation id."""
        self._ensure_producer().publish(
            event_body(event), exchange=EVENTS_EXCHANGE.name, routing_key=event_type, content_type=CONTENT_TYPE,
            content_encoding="utf-8", delivery_mode=2, retry=False, declare=None, message_id=event["id"],
            correlation_id=event.get("jobid"), type=event_type)

    def broker_in_cooldown(self) -> bool:
        return time.monotonic() < self._down_until

    def mark_sent(self, ids: Sequence[int]) -> None:
        """Mark the rows the broker confirmed, in one statement."""
        if not ids:
            return
        if self.db.is_postgresql:
            with self.db.hot() as hot:
                hot.execute(MARK_SENT, {"now": utcnow(), "ids": list(ids)})
            return
        with self.db.statement() as connection:
            connection.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(sent_at=utcnow()))

    def publish_after_commit(self, message: OutboxItem) -> bool:
        """The request's fast path: publish now if the broker is up, else leave the row for the relay."""
        if self.broker_in_cooldown():
            return False
        try:
            sent = self.publish([message])
        except BrokerUnavailable as exc:
            log.warning("outbox_id=%s job_id=%s publish deferred to the relay: %s", message.id, message.job_id, exc)
            return False
        self.mark_sent(sent)
        return True

    def publish_many_after_commit(self, messages: Sequence[OutboxItem]) -> int:
        """Like publish_after_commit for several messages (a job's children); the rest wait for the relay."""
        if not messages or self.broker_in_cooldown():
            return 0
        try:
            sent = self.publish(messages)
        except BrokerUnavailable as exc:
            log.warning("%d of %d messages deferred to the relay: %s", len(messages) - len(exc.sent), len(messages),
                        exc)
            sent = exc.sent
        try:
            self.mark_sent(sent)
        except OperationalError as exc:  # published, not marked: the relay sends them again and the copy is dropped
            log.warning("%d published messages not marked sent, the database is unavailable: %s", len(sent), exc)
        return len(sent)

    def close(self) -> None:
        with self._lock:
            self._reset()


class BackgroundPublisher:
    """The web's fast path: a request hands its committed outbox message over and answers at once.

    A thread of the process takes what has gathered, publishes it as one batch with pipelined
    confirms and marks it sent in one statement. The request never waits for the broker: the job
    is accepted once its transaction has committed, and a message the thread could not publish
    (broker down, the process gone) is the relay's, once RELAY_GRACE_S has passed. While the
    broker is in its outage cooldown, messages are left to the relay without a try.
    """

    def __init__(self, publisher: OutboxPublisher, *, batch_size: int = 500, max_waiting: int = 10_000) -> None:
        self.publisher = publisher
        self.batch_size = batch_size
        self.max_waiting = max_waiting
        self._waiting: queue.SimpleQueue[OutboxItem | None] = queue.SimpleQueue()
        self._outstanding = 0  # handed over and not yet published or given up
        self._count_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._start_lock = threading.Lock()

    def hand_over(self, message: OutboxItem) -> None:
        """Publish `message` soon, off the request's thread; never blocks, never raises."""
        if self.publisher.broker_in_cooldown():
            return
        if self._waiting.qsize() >= self.max_waiting:
            log.warning("outbox_id=%s left to the relay: %d messages already wait for the fast path",
                        message.id, self.max_waiting)
            return
        self._ensure_thread()
        with self._count_lock:
            self._outstanding += 1
        self._waiting.put(message)

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                if self._pid != os.getpid():  # a fork: the parent's thread and queue are not ours
                    self._waiting = queue.SimpleQueue()
                    self._outstanding = 0
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="outbox-fast-path", daemon=True)
                self._thread.start()

    def _take_batch(self) -> list[OutboxItem] | None:
        first = self._waiting.get()
        if first is None:
            return None
        batch = [first]
        while len(batch) < self.batch_size:
            try:
                more = self._waiting.get_nowait()
            except queue.Empty:
                break
            if more is None:
                self._waiting.put(None)
                break
            batch.append(more)
        return batch

    def _run(self) -> None:
        while (batch := self._take_batch()) is not None:
            try:
                self._publish(batch)
            except Exception:
                log.exception("the fast path failed on %d messages; the relay publishes them", len(batch))
            finally:
                with self._count_lock:
                    self._outstanding -= len(batch)

    def _publish(self, batch: list[OutboxItem]) -> None:
        if self.publisher.broker_in_cooldown():
            return
        try:
            sent = self.publisher.publish(batch)
        except BrokerUnavailable as exc:
            log.warning("%d of %d messages deferred to the relay: %s", len(batch) - len(exc.sent), len(batch), exc)
            sent = exc.sent
        self.publisher.mark_sent(sent)

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Until every message handed over so far is published or given up (tests, shutdown)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._outstanding <= 0:
                return True
            time.sleep(0.005)
        return False

    def close(self) -> None:
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            self._waiting.put(None)
            self._thread.join(timeout=5)
        self._thread = None
