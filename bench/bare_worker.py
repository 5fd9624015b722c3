"""The baseline Celery app: one no-op task, the project's delivery settings, and nothing else.

`celery -A bench.bare_worker worker -Q bare -c N` (BROKER_URL from the environment). It runs from
the benchmark only; the queue is a quorum queue like the project's task queues, so the broker's
cost per message is the same on both sides.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from celery import Celery
from kombu import Queue

BARE_QUEUE = Queue("bare", routing_key="bare", durable=True, queue_arguments={"x-queue-type": "quorum"})


def make_bare_celery(broker_url: str) -> Celery:
    """A bare Celery app with the project's delivery settings (confirms, late ack, prefetch 1, JSON)."""
    app = Celery("bare", broker=broker_url, set_as_current=False)
    app.conf.update(
        broker_transport_options={"confirm_publish": True}, task_serializer="json", accept_content=["json"],
        task_ignore_result=True, task_acks_late=True, task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1, task_queues=[BARE_QUEUE], task_default_queue="bare",
        worker_hijack_root_logger=False,
    )
    app.task(name="bare.noop")(noop)
    return app


def noop(index: int = 0, total: int = 0, marker: str = "") -> None:
    """Does nothing; the first and the last of a backlog stamp the time into `marker`."""
    if marker and index in (0, total - 1):
        with Path(marker).open("a") as handle:
            handle.write(f"{index} {time.time()}\n")


app = make_bare_celery(os.environ.get("BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//"))
