"""OutboxPublisher and OutboxRelay against a broker that is down (a closed port), on a real SQLite database."""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from config.settings import load_settings
from jobs.celery_app import create_celery
from jobs.db import Database, utcnow
from jobs.enqueue import submit_job
from jobs.models import OutboxMessage
from jobs.publisher import BackgroundPublisher, BrokerUnavailable, OutboxPublisher
from jobs.relay import OutboxRelay

CLOSED_PORT_BROKER = "amqp://guest:guest@127.0.0.1:1//"


def make_publisher(db: Database, cooldown_s: float = 0.0) -> OutboxPublisher:
    settings = load_settings({}, broker_url=CLOSED_PORT_BROKER, database_url=db.url)
    return OutboxPublisher(create_celery(settings), db, outage_cooldown_s=cooldown_s)


@pytest.fixture
def publisher(db: Database) -> Iterator[OutboxPublisher]:
    publisher = make_publisher(db)
    yield publisher
    publisher.close()


def add_message(db: Database, age_s: float = 0.0) -> OutboxMessage:
    """Submit a job; its outbox row is backdated by `age_s` seconds."""
    with db.transaction() as session:
        _job, message = submit_job(session, "diagnostics.noop", {})
    if age_s:
        with db.transaction() as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.id == message.id)
                            .values(created_at=utcnow() - timedelta(seconds=age_s)))
    return message


def row(db: Database, outbox_id: int) -> OutboxMessage:
    with db.read_session() as session:
        found = session.get(OutboxMessage, outbox_id)
        assert found is not None
        return found


def stop_after(calls: int) -> Callable[[], bool]:
    """A should_stop that lets the loop run `calls` times."""
    seen = 0

    def should_stop() -> bool:
        nonlocal seen
        seen += 1
        return seen > calls

    return should_stop


def test_fast_path_with_the_broker_down_returns_false_quickly_and_leaves_the_row(
    db: Database, publisher: OutboxPublisher
) -> None:
    message = add_message(db)
    started = time.monotonic()
    assert publisher.publish_after_commit(message) is False
    assert time.monotonic() - started < 1.0
    stored = row(db, message.id)
    assert stored.sent_at is None
    assert stored.publish_attempts == 0  # the fast path leaves bookkeeping to the relay


def test_fast_path_skips_the_broker_during_the_outage_cooldown(db: Database) -> None:
    publisher = make_publisher(db, cooldown_s=60)
    try:
        assert publisher.publish_after_commit(add_message(db)) is False
        assert publisher.broker_in_cooldown()
        started = time.monotonic()
        assert publisher.publish_after_commit(add_message(db)) is False
        assert time.monotonic() - started < 0.05
    finally:
        publisher.close()
    assert not make_publisher(db, cooldown_s=0).broker_in_cooldown()


def test_relay_run_once_raises_and_records_the_failure_on_the_oldest_row(
    db: Database, publisher: OutboxPublisher
) -> None:
    oldest, newer = add_message(db, age_s=10), add_message(db, age_s=5)
    relay = OutboxRelay(publisher, grace_s=0)
    for expected_attempts in (1, 2):
        with pytest.raises(BrokerUnavailable):
            relay.run_once()
        stored = row(db, oldest.id)
        assert stored.publish_attempts == expected_attempts
        assert stored.last_error
        assert stored.sent_at is None
    untouched = row(db, newer.id)
    assert (untouched.publish_attempts, untouched.last_error, untouched.sent_at) == (0, None, None)


def test_relay_run_once_with_nothing_pending_does_not_need_the_broker(publisher: OutboxPublisher) -> None:
    assert OutboxRelay(publisher, grace_s=0).run_once() == 0


def test_relay_backs_off_doubling_up_to_max_backoff_while_the_broker_is_down(
    db: Database, publisher: OutboxPublisher
) -> None:
    message = add_message(db, age_s=10)
    relay = OutboxRelay(publisher, grace_s=0, poll_interval_s=0.5, max_backoff_s=4.0)
    sleeps: list[float] = []
    relay.run_forever(stop_after(7), sleep=sleeps.append)
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert row(db, message.id).publish_attempts == 7
    assert row(db, message.id).sent_at is None


def test_relay_polls_at_the_poll_interval_when_there_is_nothing_to_publish(publisher: OutboxPublisher) -> None:
    relay = OutboxRelay(publisher, grace_s=0, poll_interval_s=0.5, max_backoff_s=4.0)
    sleeps: list[float] = []
    relay.run_forever(stop_after(4), sleep=sleeps.append)
    assert sleeps == [0.5, 0.5, 0.5, 0.5]


def test_pending_returns_oldest_first_and_skips_rows_inside_the_grace_period(
    db: Database, publisher: OutboxPublisher
) -> None:
    first, second, third = (add_message(db, age_s=120) for _ in range(3))
    fresh = add_message(db)  # the fast path's, for the next grace_s seconds
    relay = OutboxRelay(publisher, grace_s=60)
    assert [m.id for m in relay.pending()] == [first.id, second.id, third.id]
    assert fresh.id not in [m.id for m in relay.pending()]
    assert [m.id for m in OutboxRelay(publisher, grace_s=60, batch_size=2).pending()] == [first.id, second.id]
    assert [m.id for m in OutboxRelay(publisher, grace_s=0).pending()] == [first.id, second.id, third.id, fresh.id]


def test_pending_skips_rows_already_sent(db: Database, publisher: OutboxPublisher) -> None:
    sent, unsent = add_message(db, age_s=120), add_message(db, age_s=120)
    publisher.mark_sent([sent.id])
    assert row(db, sent.id).sent_at is not None
    assert [m.id for m in OutboxRelay(publisher, grace_s=0).pending()] == [unsent.id]


class FlakyBroker:
    """Stands in for the producer: the publishes numbered in `failing` (from 0) fail, the others confirm."""

    def __init__(self, failing: set[int] | None = None) -> None:
        self.failing = failing or set()
        self.calls = 0
        self.published: list[str] = []
        self.messages: list[dict[str, Any]] = []

    def publish(self, body: Any, **options: Any) -> None:
        self.calls += 1
        if self.calls - 1 in self.failing:
            raise ConnectionResetError("connection reset by peer")
        self.published.append(options["headers"]["id"])
        self.messages.append({"body": body, **options})


def use_broker(publisher: OutboxPublisher, broker: FlakyBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    def connect() -> object:
        publisher._producer = publisher._producer or broker  # type: ignore[assignment]
        return publisher._producer

    monkeypatch.setattr(publisher, "_ensure_producer", connect)


def test_a_stale_connection_gets_one_fresh_try_before_the_relay_takes_over(
    db: Database, publisher: OutboxPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    earlier, message = add_message(db), add_message(db)
    broker = FlakyBroker(failing={1})  # the broker restarted after the earlier publish
    use_broker(publisher, broker, monkeypatch)
    assert publisher.publish_after_commit(earlier) is True
    assert publisher.publish_after_commit(message) is True
    assert broker.published == [str(earlier.job_id), str(message.job_id)]
    assert row(db, message.id).sent_at is not None


def test_a_new_connection_that_fails_is_not_tried_twice(
    db: Database, publisher: OutboxPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = add_message(db)
    broker = FlakyBroker(failing={0})
    use_broker(publisher, broker, monkeypatch)
    assert publisher.publish_after_commit(message) is False  # a second try could double a slow connect timeout
    assert broker.calls == 1
    assert row(db, message.id).sent_at is None


def test_relay_marks_the_confirmed_part_of_a_batch_sent_when_the_broker_fails_midway(
    db: Database, publisher: OutboxPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = add_message(db, age_s=10), add_message(db, age_s=5)
    broker = FlakyBroker(failing={1, 2})  # the second message fails, and so does its fresh try
    use_broker(publisher, broker, monkeypatch)
    relay = OutboxRelay(publisher, grace_s=0)
    with pytest.raises(BrokerUnavailable):
        relay.run_once()
    assert broker.published == [str(first.job_id)]
    assert row(db, first.id).sent_at is not None, "the confirmed message stays unsent and is published again"
    assert row(db, second.id).sent_at is None
    assert [m.id for m in relay.pending()] == [second.id]


def test_message_carries_the_job_id_as_task_id_and_argument(
    db: Database, publisher: OutboxPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = add_message(db)
    broker = FlakyBroker()
    use_broker(publisher, broker, monkeypatch)
    assert publisher.publish_after_commit(message) is True
    assert row(db, message.id).sent_at is not None
    [call] = broker.messages
    assert call["headers"]["task"] == "diagnostics.noop"
    assert (call["exchange"], call["routing_key"]) == ("jobs", "diagnostics")
    assert call["headers"]["id"] == str(message.job_id) and call["body"][0] == [str(message.job_id)]
    assert uuid.UUID(call["headers"]["id"]) == message.job_id and call["delivery_mode"] == 2


def test_purge_deletes_only_messages_sent_before_the_retention(db: Database, publisher: OutboxPublisher) -> None:
    old_sent, recent_sent, old_unsent = add_message(db), add_message(db), add_message(db, age_s=30 * 24 * 3600)
    publisher.mark_sent([old_sent.id, recent_sent.id])
    with db.transaction() as session:
        session.execute(update(OutboxMessage).where(OutboxMessage.id == old_sent.id)
                        .values(sent_at=utcnow() - timedelta(days=8)))
    relay = OutboxRelay(publisher, retention_s=7 * 24 * 3600)
    assert relay.purge_sent() == 1
    with db.read_session() as session:
        remaining = set(session.scalars(select(OutboxMessage.id)))
    assert remaining == {recent_sent.id, old_unsent.id}


def test_the_fast_path_publishes_what_requests_hand_over_in_batches_and_marks_it_sent(
    db: Database, publisher: OutboxPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = [add_message(db) for _ in range(5)]
    broker = FlakyBroker()
    use_broker(publisher, broker, monkeypatch)
    fast_path = BackgroundPublisher(publisher)
    try:
        started = time.monotonic()
        for message in messages:
            fast_path.hand_over(message)
        assert time.monotonic() - started < 0.05  # a request never waits for the broker
        assert fast_path.wait_idle()
    finally:
        fast_path.close()
    assert broker.published == [str(m.job_id) for m in messages]
    assert all(row(db, m.id).sent_at is not None for m in messages)


def test_the_fast_path_leaves_what_it_cannot_publish_to_the_relay(db: Database, publisher: OutboxPublisher) -> None:
    message = add_message(db)  # the publisher's broker is a closed port
    fast_path = BackgroundPublisher(publisher)
    try:
        fast_path.hand_over(message)
        assert fast_path.wait_idle()
        assert publisher.broker_in_cooldown() is False  # cooldown 0 in this fixture
    finally:
        fast_path.close()
    stored = row(db, message.id)
    assert stored.sent_at is None and stored.publish_attempts == 0  # the relay's row, untouched
    assert [m.id for m in OutboxRelay(publisher, grace_s=0).pending()] == [message.id]


def test_the_fast_path_does_not_try_a_broker_in_its_outage_cooldown(db: Database) -> None:
    publisher = make_publisher(db, cooldown_s=60)
    fast_path = BackgroundPublisher(publisher)
    try:
        fast_path.hand_over(add_message(db))
        assert fast_path.wait_idle()
        assert publisher.broker_in_cooldown()
        later = add_message(db)
        fast_path.hand_over(later)  # dropped at once: the relay publishes it
        assert fast_path.wait_idle(timeout_s=0.05)
        assert row(db, later.id).sent_at is None
    finally:
        fast_path.close()
        publisher.close()


def test_a_task_message_is_celerys_own_with_the_jobs_id(publisher: OutboxPublisher) -> None:
    for name in ("diagnostics.noop", "invoice.create"):
        publisher.task_message(name, str(uuid.uuid4()))  # the template of the name
        job_id = str(uuid.uuid4())
        ours = publisher.task_message(name, job_id)
        celerys = publisher.celery_app.amqp.as_task_v2(job_id, name, args=[job_id])
        assert ours == (celerys.headers, celerys.properties, celerys.body)
