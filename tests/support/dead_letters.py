"""Dead letters planted straight on the broker, as RabbitMQ leaves a rejected Celery message."""
from __future__ import annotations

from datetime import UTC, datetime

from kombu import Connection

from jobs.celery_app import declare_topology
from jobs.topology import DEAD_LETTER_EXCHANGE


def plant_dead_letter(broker_url: str, job_id: str, task_name: str = "diagnostics.sleep",
                      queue: str = "diagnostics") -> None:
    """Put a Celery protocol 2 message of `job_id` with an `x-death` header into `<queue>.dead`."""
    headers = {"id": job_id, "task": task_name, "x-death": [{
        "count": 1, "reason": "rejected", "queue": queue, "time": datetime.now(UTC),
        "exchange": "jobs", "routing-keys": [queue]}]}
    with Connection(broker_url) as connection:
        declare_topology(connection)
        producer = connection.Producer()
        producer.publish([[job_id], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}],
                         exchange=DEAD_LETTER_EXCHANGE.name, routing_key=queue, headers=headers,
                         serializer="json", delivery_mode=2)


def plant_raw_dead_letter(broker_url: str, body: bytes, headers: dict[str, object] | None,
                          queue: str = "diagnostics", content_type: str = "application/json") -> None:
    """Put any body and headers into `<queue>.dead`, as a crafted or foreign message would arrive."""
    with Connection(broker_url) as connection:
        declare_topology(connection)
        connection.Producer().publish(body, exchange=DEAD_LETTER_EXCHANGE.name, routing_key=queue,
                                      headers=headers, content_type=content_type, content_encoding="binary",
                                      delivery_mode=2)
