"""Publishing outbox messages: the fast path after a request's commit, and the relay for the rest."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, cast
from datetime import timedelta

from amqp import spec
from amqp.exceptions import MessageNacked
from celery import Celery
from kombu import Connection, Producer
from sqlalchemy import CursorResult, delete, select, update

from jobs.db import Database, utcnow
from jobs.models import OutboxMessage

log = logging.getLogger("jobs.outbox")

PURGE_INTERVAL_S = 3600.0
# A broker that has not confirmed a batch by then is treated as down; the rows stay for the relay.
CONFIRM_TIMEOUT_S = 30.0


class BrokerUnavailable(RuntimeError):
    """The broker could not be reached or did not confirm a publish.

    `sent` holds the ids the broker confirmed before the failure, and `failed_id` the one it did not.
    """

    def __init__(self, message: str, *, sent: list[int] | None = None, failed_id: int | None = None) -> None:
        super().__init__(message)
        self.sent = sent or []
        self.failed_id = failed_id


class PipelinedConfirms:
    """Publisher confirms without a round trip per message, on one AMQP channel.

    py-amqp's confirm mode waits for each message's ack before the next publish. Here every publish
    (a task and its task-sent event alike) is numbered as the broker numbers it, and one wait per
    batch collects the acks, which the broker often sends for many messages at once.
    """

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.published = 0
        self._outstanding: set[int] = set()
        self._nacked: set[int] = set()
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        if not channel._confirm_selected:
            channel._confirm_selected = True
            channel.confirm_select()
        channel.basic_publish = self._publish  # replaces basic_publish_confirm on this channel only

    def _publish(self, *args: Any, **kwargs: Any) -> Any:
        result = self.channel._basic_publish(*args, **kwargs)
        self.published += 1
        self._outstanding.add(self.published)
        return result

    def _resolve(self, delivery_tag: int, multiple: bool) -> set[int]:
        tags = {t for t in self._outstanding if t <= delivery_tag} if multiple else {delivery_tag}
        self._outstanding -= tags
        return tags

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        self._resolve(delivery_tag, multiple)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._nacked |= self._resolve(delivery_tag, multiple)

    def wait_through(self, tag: int, timeout: float = CONFIRM_TIMEOUT_S) -> None:
        """Return once the broker has acked or nacked every publish up to `tag`."""
        while self._outstanding and min(self._outstanding) <= tag:
            self.channel.wait([spec.Basic.Ack, spec.Basic.Nack], timeout=timeout)

    def confirmed_through(self, tag: int) -> bool:
        """Every publish up to `tag` acked (none nacked, none outstanding)."""
        return not any(t <= tag for t in self._outstanding) and not any(t <= tag for t in self._nacked)


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
            except Exception:  # noqa: BLE001 - the connection is already broken; closing is best effort
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
                except Exception as exc:  # noqa: BLE001 - any broker error leaves the rows for the relay
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
            log.warning("%d of %d messages deferred to the relay: %s", len(messages) - len(exc.sent), len(messages), exc)
            sent = exc.sent
        self.mark_sent(sent)
        return len(sent)

    def close(self) -> None:
        with self._lock:
            self._reset()


class OutboxRelay:
    """Publishes what the fast path left behind, oldest first, backing off while the broker is down."""

    def __init__(
        self,
        publisher: OutboxPublisher,
        *,
        batch_size: int = 200,
        grace_s: float = 2.0,
        poll_interval_s: float = 0.5,
        max_backoff_s: float = 30.0,
        retention_s: float = 7 * 24 * 3600,
    ) -> None:
        self.publisher = publisher
        self.batch_size = batch_size
        self.grace_s = grace_s
        self.poll_interval_s = poll_interval_s
        self.max_backoff_s = max_backoff_s
        self.retention_s = retention_s
        self._next_purge = 0.0

    def pending(self) -> list[OutboxMessage]:
        """Unsent messages older than the grace period (younger ones are the fast path's)."""
        cutoff = utcnow() - timedelta(seconds=self.grace_s)
        with self.publisher.db.read_session() as session:
            return list(
                session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.sent_at.is_(None), OutboxMessage.created_at <= cutoff)
                    .order_by(OutboxMessage.id)
                    .limit(self.batch_size)
                )
            )

    def run_once(self) -> int:
        """Publish one batch; return how many were sent. Raises BrokerUnavailable."""
        batch = self.pending()
        if not batch:
            return 0
        try:
            sent = self.publisher.publish(batch)
        except BrokerUnavailable as exc:
            self.publisher.mark_sent(exc.sent)  # what the broker confirmed must not be published again
            self._record_failure(exc.failed_id if exc.failed_id is not None else batch[0].id, str(exc))
            raise
        self.publisher.mark_sent(sent)
        log.info("relay published=%d oldest_outbox_id=%s", len(sent), batch[0].id)
        return len(sent)

    def _record_failure(self, outbox_id: int, error: str) -> None:
        with self.publisher.db.transaction() as session:
            row = session.get(OutboxMessage, outbox_id)
            if row is not None:
                row.publish_attempts += 1
                row.last_error = error[:2000]

    def purge_sent(self) -> int:
        """Delete messages sent longer than `retention_s` ago (unsent ones are never deleted)."""
        cutoff = utcnow() - timedelta(seconds=self.retention_s)
        with self.publisher.db.transaction() as session:
            result = session.execute(
                delete(OutboxMessage).where(OutboxMessage.sent_at.is_not(None), OutboxMessage.sent_at < cutoff)
            )
            deleted = cast(CursorResult[Any], result).rowcount
        if deleted:
            log.info("relay purged=%d sent outbox messages older than %.0f h", deleted, self.retention_s / 3600)
        return deleted

    def _purge_now_and_then(self) -> None:
        if time.monotonic() >= self._next_purge:
            self._next_purge = time.monotonic() + PURGE_INTERVAL_S
            self.purge_sent()

    def run_forever(self, should_stop: Callable[[], bool], sleep: Callable[[float], None] = time.sleep) -> None:
        backoff = self.poll_interval_s
        while not should_stop():
            self._purge_now_and_then()
            try:
                sent = self.run_once()
            except BrokerUnavailable as exc:
                log.warning("relay: broker unavailable (%s); next try in %.1f s", exc, backoff)
                sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            backoff = self.poll_interval_s
            if sent < self.batch_size:
                sleep(self.poll_interval_s)
