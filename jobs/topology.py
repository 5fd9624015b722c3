"""Queue topology and job kinds, declared as data in one place.

Task queues are quorum queues bound to the topic exchange `jobs`: quorum queues bound
redeliveries (`x-delivery-limit`) and, with a topic exchange, let Celery's native delayed
delivery hold retry countdowns on the broker instead of inside a worker. Each task queue
dead-letters into `jobs.dead`, which routes to `<queue>.dead`.
"""
from __future__ import annotations

from dataclasses import dataclass

from kombu import Exchange, Queue

from config.settings import QUORUM_DELIVERY_LIMIT

JOBS_EXCHANGE = Exchange("jobs", type="topic", durable=True)
DEAD_LETTER_EXCHANGE = Exchange("jobs.dead", type="direct", durable=True)
DEAD_LETTER_SUFFIX = ".dead"


@dataclass(frozen=True)
class QueueSpec:
    """A task queue and the job family whose time limits apply to it."""

    name: str
    family: str


QUEUES: tuple[QueueSpec, ...] = (
    QueueSpec("invoices", "invoices"),
    QueueSpec("invoices.bulk", "invoices"),
    QueueSpec("etl", "etl"),
    QueueSpec("notifications", "notifications"),
    QueueSpec("diagnostics", "diagnostics"),
)


@dataclass(frozen=True)
class JobKind:
    """What a job kind runs: its Celery task name and its queue."""

    kind: str
    task_name: str
    queue: str


JOB_KINDS: dict[str, JobKind] = {
    kind.kind: kind
    for kind in (
        JobKind("diagnostics.noop", "diagnostics.noop", "diagnostics"),
        JobKind("diagnostics.sleep", "diagnostics.sleep", "diagnostics"),
        JobKind("etl.import", "etl.import", "etl"),
        JobKind("invoice.create", "invoice.create", "invoices"),
        JobKind("invoice.batch", "invoice.batch", "invoices"),
        JobKind("invoice.customer_batch", "invoice.customer_batch", "invoices.bulk"),
        JobKind("invoice.email", "invoice.email", "notifications"),
    )
}


def queue_family(queue_name: str) -> str:
    for spec in QUEUES:
        if spec.name == queue_name:
            return spec.family
    raise KeyError(queue_name)


def dead_letter_queue_name(queue_name: str) -> str:
    return queue_name + DEAD_LETTER_SUFFIX


def dead_letter_queue_names() -> list[str]:
    """Every task queue's dead-letter queue, in topology order."""
    return [dead_letter_queue_name(spec.name) for spec in QUEUES]


def task_queues() -> list[Queue]:
    """The Celery task queues with their quorum and dead-letter arguments."""
    return [
        Queue(
            spec.name,
            JOBS_EXCHANGE,
            routing_key=spec.name,
            durable=True,
            queue_arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": QUORUM_DELIVERY_LIMIT,
                "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE.name,
                "x-dead-letter-routing-key": spec.name,
            },
        )
        for spec in QUEUES
    ]


def dead_letter_queues() -> list[Queue]:
    """One durable dead-letter queue per task queue, where failed and crash-looping messages land."""
    return [
        Queue(
            dead_letter_queue_name(spec.name),
            DEAD_LETTER_EXCHANGE,
            routing_key=spec.name,
            durable=True,
            queue_arguments={"x-queue-type": "quorum"},
        )
        for spec in QUEUES
    ]


def task_routes() -> dict[str, dict[str, str]]:
    """Celery task_routes: every task name to its queue."""
    return {kind.task_name: {"queue": kind.queue, "routing_key": kind.queue} for kind in JOB_KINDS.values()}
