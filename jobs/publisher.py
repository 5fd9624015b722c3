"""Publishing outbox messages with publisher confirms: the fast path after a commit, and the relay's sends."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from amqp.exceptions import MessageNacked
from celery import Celery
from kombu import Connection, Producer
from sqlalchemy import update

from jobs.confirms import PipelinedConfirms
from jobs.db import Database, utcnow
from jobs.models import OutboxMessage

log = logging.getLogger("jobs.outbox")


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

    def _ensure_producer(self) -> Producer:
        if self._producer is None:
            connection = self.celery_app.connection_for_write()
            # One quick try: a broker that is down must not hold a web request.
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=None)
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

    def publish(self, messages: Sequence[OutboxMessage]) -> list[int]:
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

    def _publish_batch(self, batch: Sequence[OutboxMessage], sent: list[int]) -> None:
        """Send `batch`, wait for its confirms once, and append the confirmed prefix's ids to `sent`."""
        if not batch:
            return
        self._ensure_producer()
        confirms = self._confirms
        if confirms is None:  # a producer without a confirm channel: each send returns once published
            for message in batch:
                self._send(message)
                sent.append(message.id)
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
                sent.append(message.id)
        if len(sent) - already < len(batch):
            raise MessageNacked("the broker refused a message")

    def _send(self, message: OutboxMessage) -> None:
        self.celery_app.send_task(
            message.task_name,
            args=[str(message.job_id)],
            task_id=str(message.job_id),
            queue=message.queue,
            producer=self._ensure_producer(),
            retry=False,
        )

    def broker_in_cooldown(self) -> bool:
        return time.monotonic() < self._down_until

    def mark_sent(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        with self.db.transaction() as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(sent_at=utcnow()))

    def publish_after_commit(self, message: OutboxMessage) -> bool:
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

    def publish_many_after_commit(self, messages: Sequence[OutboxMessage]) -> int:
        """Like publish_after_commit for several messages (a job's children); the rest wait for the relay."""
        if not messages or self.broker_in_cooldown():
            return 0
        try:
            sent = self.publish(messages)
        except BrokerUnavailable as exc:
            log.warning("%d of %d messages deferred to the relay: %s", len(messages) - len(exc.sent), len(messages),
                        exc)
            sent = exc.sent
        self.mark_sent(sent)
        return len(sent)

    def close(self) -> None:
        with self._lock:
            self._reset()
