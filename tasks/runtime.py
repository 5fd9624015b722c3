"""The worker side's settings and database, created on first use in each process."""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from celery import current_app

from config.settings import Settings, get_settings
from jobs.db import Database
from jobs.models import OutboxRow
from jobs.publisher import BackgroundPublisher, OutboxPublisher
from jobs.retry_policy import RetryPolicy


@lru_cache(maxsize=1)
def worker_database() -> Database:
    """The database; the events a transaction writes are handed to event_publisher once it commits."""
    database = Database(get_settings().resolved_database_url)
    database.after_commit = _publish_events
    return database


def _publish_events(rows: Sequence[OutboxRow]) -> None:
    for row in rows:
        event_publisher().hand_over(row)


@lru_cache(maxsize=1)
def event_publisher() -> BackgroundPublisher:
    """Publishes the domain events of a committed transaction from a thread of the pool process, as the web
    does its jobs: the job's own path (a failure's reject, the next delivery) never waits for their confirms,
    and what the thread does not publish is the relay's."""
    return BackgroundPublisher(worker_publisher())


@lru_cache(maxsize=1)
def worker_publisher() -> OutboxPublisher:
    """Publishes the messages of jobs that jobs start (created in each pool process on first use)."""
    return OutboxPublisher(current_app, worker_database(), outage_cooldown_s=get_settings().broker_outage_cooldown_s)


@lru_cache(maxsize=1)
def retry_producer() -> Any:
    """A producer whose every publish waits for the broker's confirm (created in each pool process on first use).

    A retry's message must reach the broker: once it is published the job is `retrying` and its first
    message is acknowledged, so a message lost in a socket buffer would leave the job waiting for ever.
    """
    connection = current_app.connection_for_write(transport_options={"confirm_publish": True})
    return current_app.amqp.Producer(connection, auto_declare=False)


def worker_settings() -> Settings:
    return get_settings()


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_retries=settings.job_max_retries,
        base_s=settings.retry_backoff_base_s,
        max_s=settings.retry_backoff_max_s,
    )


def forget_parent_connections() -> None:
    """In a new pool process: drop the broker connections the parent made (its hard-time-limit handler
    publishes), so this process opens its own; they are left unclosed, a close would go out on the
    parent's socket."""
    for cached in (worker_publisher, event_publisher, retry_producer):
        cached.cache_clear()
