"""The peer a user would otherwise pick: plain Celery with a result backend that tracks every task.

`celery -A bench.peer_celery worker -Q peer -c N`, with PEER_BACKEND (the result backend URL: the
SQLAlchemy database backend, `db+postgresql+psycopg://…`, or `redis://…`) and BROKER_URL from the
environment. The delivery settings are the project's and the bare baseline's (publisher confirms,
late ack, prefetch 1, JSON, a quorum queue), plus what makes Celery track a task as this project
does: `task_track_started=True` (a STARTED state is written before the task runs) and
`result_extended=True` (name, args, worker and queue stored with the result). Task events are off,
as on the project's workers until a monitor turns them on.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from celery import Celery
from kombu import Queue

PEER_QUEUE = Queue("peer", routing_key="peer", durable=True, queue_arguments={"x-queue-type": "quorum"})


def make_peer_celery(broker_url: str, backend_url: str) -> Celery:
    """Plain Celery with a result backend, tracking started tasks, with the project's delivery settings."""
    app = Celery("peer", broker=broker_url, backend=backend_url, set_as_current=False)
    app.conf.update(
        broker_transport_options={"confirm_publish": True}, task_serializer="json", result_serializer="json",
        accept_content=["json"], task_acks_late=True, task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1, task_queues=[PEER_QUEUE], task_default_queue="peer",
        task_track_started=True, result_extended=True, worker_hijack_root_logger=False,
    )
    app.task(name="peer.noop")(noop)
    return app


def noop(index: int = 0, total: int = 0, marker: str = "") -> dict[str, object]:
    """Does nothing but return a result; the first and the last of a backlog stamp the time into `marker`."""
    if marker and index in (0, total - 1):
        with Path(marker).open("a") as handle:
            handle.write(f"{index} {time.time()}\n")
    return {"ok": True, "index": index}


app = make_peer_celery(os.environ.get("BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//"),
                       os.environ.get("PEER_BACKEND", "redis://127.0.0.1:6379/0"))
