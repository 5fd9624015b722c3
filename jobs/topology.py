"""Queue topology: the exchanges and the task queues, declared as data in one place.

Domain events go to the topic exchange `events`, where each subscriber binds a queue of its own
(`subscriber_queue`). Task queues are quorum queues bound to the topic exchange `jobs`: quorum queues bound
redeliveries (`x-delivery-limit`) and, with a topic exchange, let Celery's native delayed
delivery hold retry countdowns on the broker instead of inside a worker. Each task queue
dead-letters into `jobs.dead`, which routes to `<queue>.dead`. Job kinds name their queue
(jobs/kinds.py); the routes are derived from them.
"""
from __future__ import annotations

from dataclasses import dataclass

from kombu import Exchange, Queue, binding

from config.settings import JOB_FAMILIES, QUORUM_DELIVERY_LIMIT

JOBS_EXCHANGE = Exchange("jobs", type="topic", durable=True)
# Domain events (jobs/events.py), routed by their type (`invoice.issued`); each subscriber binds its own queue.
EVENTS_EXCHANGE = Exchange("events", type="topic", durable=True)
DEAD_LETTER_EXCHANGE = Exchange("jobs.dead", type="direct", durable=True)
DEAD_LETTER_SUFFIX = ".dead"


@dataclass(frozen=True)
class QueueSpec:
    """A task queue and the job family whose time limits (`<FAMILY>_TIME_LIMIT_S`) apply to its jobs."""

    name: str
    family: str

    def __post_init__(self) -> None:
        if self.family not in JOB_FAMILIES:
            raise ValueError(f"queue {self.name}: unknown family {self.family!r}; known: {', '.join(JOB_FAMILIES)}")


INVOICES = QueueSpec("invoices", "invoices")
INVOICES_BULK = QueueSpec("invoices.bulk", "invoices")
ETL = QueueSpec("etl", "etl")
NOTIFICATIONS = QueueSpec("notifications", "notifications")
DIAGNOSTICS = QueueSpec("diagnostics", "diagnostics")

QUEUES: tuple[QueueSpec, ...] = (INVOICES, INVOICES_BULK, ETL, NOTIFICATIONS, DIAGNOSTICS)


def queue_named(name: str) -> QueueSpec:
    for spec in QUEUES:
        if spec.name == name:
            return spec
    raise KeyError(name)


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


@dataclass(frozen=True)
class Subscription:
    """An event subscriber's own queue on the `events` exchange and the routing keys it is bound with."""

    queue: str
    binding_keys: tuple[str, ...]


# The application's own subscribers (other services bind theirs; EVENT_QUEUES lists them on the overview).
INVOICE_ISSUED_SUBSCRIPTION = Subscription("notifications.invoice-issued", ("invoice.issued",))
SUBSCRIPTIONS: tuple[Subscription, ...] = (INVOICE_ISSUED_SUBSCRIPTION,)


def subscriber_queue(name: str, binding_keys: tuple[str, ...]) -> list[Queue]:
    """A subscriber's own durable quorum queue bound to `events` with each key, dead-lettering into
    `<name>.dead` like a task queue; the dead-letter queue is second."""
    bindings = [binding(EVENTS_EXCHANGE, routing_key=key) for key in binding_keys]
    return [
        Queue(name, bindings=bindings, durable=True, queue_arguments={
            "x-queue-type": "quorum", "x-delivery-limit": QUORUM_DELIVERY_LIMIT,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE.name, "x-dead-letter-routing-key": name}),
        Queue(dead_letter_queue_name(name), DEAD_LETTER_EXCHANGE, routing_key=name, durable=True,
              queue_arguments={"x-queue-type": "quorum"}),
    ]
