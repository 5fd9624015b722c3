"""The one Celery application: broker, serialization, delivery guarantees, queues and routes."""
from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Connection

from config.settings import Settings
from jobs.kinds import declared_kinds, task_routes
from jobs.topology import EVENTS_EXCHANGE, JOBS_EXCHANGE, dead_letter_queues, task_queues


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings; the README explains each delivery-related one."""
    return {
        "broker_url": settings.broker_url,
        # Publisher confirms where a message must not be lost: the outbox publisher confirms on its own
        # channel (pipelined, jobs/confirms.py) and a retry is published through a confirming producer
        # (tasks/runtime.py). Not `confirm_publish` on every connection: it made the worker's main loop
        # wait a round trip for each of Celery's task events, the drain's bottleneck (docs/benchmarks.md).
        "broker_connection_timeout": settings.broker_connect_timeout_s,
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "event_serializer": "json",
        "accept_content": ["json"],
        # The job row is the result store; no Celery result backend.
        "task_ignore_result": True,
        # A killed worker's job is redelivered, never lost.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # A long job never hides queued jobs from idle workers.
        "worker_prefetch_multiplier": 1,
        # A leaking job cannot grow a pool process forever: above this it is replaced once its job ends.
        "worker_max_memory_per_child": settings.worker_max_memory_mb * 1024,  # Celery counts KiB
        # No two copies of one job run at once after the worker loses the broker.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "task_track_started": True,
        # Task events cost a third of a worker's CPU per job (docs/benchmarks.md), and nothing reads them
        # unless a monitor runs: Flower turns them on in every worker it sees (every 5 s), so they are
        # off until it does (WORKER_TASK_EVENTS=true keeps them always on). No `task-sent` event: it
        # doubled every publish of the web and the relay, and Flower does not need it.
        "worker_send_task_events": settings.worker_task_events,
        "task_send_sent_event": False,
        "task_queues": task_queues(),
        "task_default_queue": "diagnostics",
        "task_default_exchange": JOBS_EXCHANGE.name,
        "task_default_exchange_type": JOBS_EXCHANGE.type,
        "task_create_missing_queues": False,
        "task_routes": task_routes(),
        "task_annotations": time_limit_annotations(settings),
        "broker_native_delayed_delivery_queue_type": "quorum",
        "worker_hijack_root_logger": False,
    }


def time_limit_annotations(settings: Settings) -> dict[str, dict[str, int]]:
    """Per-family soft and hard time limits, kept below the broker's consumer timeout by Settings."""
    annotations = {}
    for kind in declared_kinds().values():
        soft, hard = settings.time_limits(kind.family)
        annotations[kind.name] = {"soft_time_limit": soft, "time_limit": hard}
    return annotations


def create_celery(settings: Settings) -> Celery:
    """Build the application's Celery app (no connection is made here)."""
    app = Celery("jobs", set_as_current=False)
    app.config_from_object(celery_config(settings))
    return app


def declare_topology(connection: Connection) -> None:
    """Declare the exchanges, task queues and dead-letter queues (idempotent)."""
    channel = connection.default_channel
    EVENTS_EXCHANGE(channel).declare()
    for queue in [*task_queues(), *dead_letter_queues()]:
        queue(channel).declare()
