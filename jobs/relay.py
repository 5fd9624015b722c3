"""The outbox relay: publishes what the fast path left behind, oldest first, backing off while the broker is down.

On PostgreSQL a batch is taken with FOR UPDATE SKIP LOCKED inside a transaction that also marks it
sent (one statement) once the broker has confirmed it: several relays can run, each on rows no
other holds, and a relay killed mid-batch leaves its rows unsent for the next one. On SQLite (one
relay) the batch is read, published, then marked.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.exc import OperationalError

from jobs.db import utcnow
from jobs.models import OutboxMessage, OutboxRow
from jobs.publisher import MARK_SENT, BrokerUnavailable, OutboxPublisher

log = logging.getLogger("jobs.outbox")

PURGE_INTERVAL_S = 3600.0

CLAIM_BATCH = """
SELECT id, job_id, task_name, queue, event FROM outbox_messages
WHERE sent_at IS NULL AND created_at <= %(cutoff)s
ORDER BY id LIMIT %(limit)s
FOR UPDATE SKIP LOCKED"""
RECORD_FAILURE = """
UPDATE outbox_messages SET publish_attempts = publish_attempts + 1, last_error = %(error)s WHERE id = %(id)s"""


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
        purge: Callable[[], object] | None = None,
    ) -> None:
        self.publisher = publisher
        self.batch_size = batch_size
        self.grace_s = grace_s
        self.poll_interval_s = poll_interval_s
        self.max_backoff_s = max_backoff_s
        self.retention_s = retention_s
        self.purge = purge  # the application's retention (finished jobs, import files), run with the outbox's
        self._next_purge = 0.0

    def pending(self) -> list[OutboxRow]:
        """Unsent messages older than the grace period (younger ones are the fast path's)."""
        cutoff = utcnow() - timedelta(seconds=self.grace_s)
        with self.publisher.db.reader() as connection:
            rows = connection.execute(
                select(OutboxMessage.id, OutboxMessage.job_id, OutboxMessage.task_name, OutboxMessage.queue,
                       OutboxMessage.event)
                .where(OutboxMessage.sent_at.is_(None), OutboxMessage.created_at <= cutoff)
                .order_by(OutboxMessage.id)
                .limit(self.batch_size)
            ).all()
        return [OutboxRow(*row) for row in rows]

    def run_once(self) -> int:
        """Publish one batch; return how many were sent. Raises BrokerUnavailable."""
        if self.publisher.db.is_postgresql:
            return self._run_once_locked()
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

    def _run_once_locked(self) -> int:
        """A batch no other relay holds, published and marked sent in one transaction (PostgreSQL)."""
        cutoff = utcnow() - timedelta(seconds=self.grace_s)
        failure: BrokerUnavailable | None = None
        with self.publisher.db.hot() as hot, hot.transaction():
            batch = [OutboxRow(*row) for row in hot.execute(
                CLAIM_BATCH, {"cutoff": cutoff, "limit": self.batch_size}).fetchall()]
            if not batch:
                return 0
            try:
                sent = self.publisher.publish(batch)
            except BrokerUnavailable as exc:
                failure, sent = exc, exc.sent  # what the broker confirmed must not be published again
                hot.execute(RECORD_FAILURE, {"id": exc.failed_id if exc.failed_id is not None else batch[0].id,
                                             "error": str(exc)[:2000]})
            if sent:
                hot.execute(MARK_SENT, {"now": utcnow(), "ids": sent})
        if failure is not None:
            raise failure
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
            if self.purge is not None:
                try:
                    self.purge()
                except Exception:
                    log.exception("retention purge failed; retried in %.0f s", PURGE_INTERVAL_S)

    def run_forever(self, should_stop: Callable[[], bool], sleep: Callable[[float], None] = time.sleep) -> None:
        backoff = self.poll_interval_s
        while not should_stop():
            try:
                self._purge_now_and_then()
                sent = self.run_once()
            except (BrokerUnavailable, OperationalError) as exc:
                # A database restart or outage is waited out like the broker's: the relay must outlive both.
                which = "broker" if isinstance(exc, BrokerUnavailable) else "database"
                log.warning("relay: %s unavailable (%s); next try in %.1f s", which, exc, backoff)
                sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            backoff = self.poll_interval_s
            if sent < self.batch_size:
                sleep(self.poll_interval_s)
