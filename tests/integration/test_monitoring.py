"""jobs.monitoring against the real RabbitMQ (a throwaway vhost) and both database backends."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from kombu import Connection, Producer

from jobs.celery_app import declare_topology
from jobs.monitoring import job_counts, monitored_queue_names, outbox_backlog, queue_depths
from jobs.topology import DEAD_LETTER_EXCHANGE, JOBS_EXCHANGE
from tests.conftest import Stack
from tests.integration.test_sign_in import sign_in
from tests.support.accounts import token_client
from tests.support.api import submit_sleep
from tests.support.services import rabbit_vhost

pytestmark = pytest.mark.integration


@pytest.fixture
def broker_url() -> Iterator[str]:
    with rabbit_vhost("jobs-monitoring") as url:
        yield url


def test_queues_that_do_not_exist_report_zero(broker_url: str) -> None:
    with Connection(broker_url) as connection:
        depths = queue_depths(connection)
    assert depths == {name: 0 for name in monitored_queue_names()}
    assert {"diagnostics", "diagnostics.dead", "invoices.bulk", "etl.dead"} <= set(depths)


def test_depths_count_ready_messages_per_queue(broker_url: str) -> None:
    # Publisher confirms: every message is in its queue before the depths are read on another channel.
    with Connection(broker_url, transport_options={"confirm_publish": True}) as connection:
        declare_topology(connection)
        producer = Producer(connection.default_channel, exchange=JOBS_EXCHANGE)
        for _ in range(3):
            producer.publish({"n": 1}, routing_key="etl")
        producer.publish({"n": 1}, routing_key="diagnostics")
        Producer(connection.default_channel, exchange=DEAD_LETTER_EXCHANGE).publish({"n": 1}, routing_key="invoices")

        depths = queue_depths(connection)

    assert depths["etl"] == 3
    assert depths["diagnostics"] == 1
    assert depths["invoices.dead"] == 1
    assert sum(depths.values()) == 5


def test_counts_and_backlog_on_the_stack_database(stack: Stack) -> None:
    client = stack.client(stack.app(broker_url="amqp://guest:guest@127.0.0.1:1//"), "operator")
    with stack.db.read_session() as session:
        before_counts, before_backlog = job_counts(session), outbox_backlog(session)

    submit_sleep(client, seconds=0)
    submit_sleep(client, seconds=0)  # the broker is unreachable: both rows stay in the outbox

    with stack.db.read_session() as session:
        counts, backlog = job_counts(session), outbox_backlog(session)
    key = ("diagnostics.sleep", "queued")
    assert counts[key] == before_counts.get(key, 0) + 2
    assert backlog.count == before_backlog.count + 2
    assert backlog.oldest_age_s is not None and backlog.oldest_age_s >= 0


def test_a_queue_with_messages_and_no_consumer_is_called_out_on_the_overview_and_in_metrics(
    stack: Stack, broker_url: str
) -> None:
    with Connection(broker_url, transport_options={"confirm_publish": True}) as connection:
        declare_topology(connection)
        Producer(connection.default_channel, exchange=JOBS_EXCHANGE).publish({"n": 1}, routing_key="etl")
        listener = connection.channel()  # one consumer on diagnostics, as a worker's channel is
        listener.basic_consume("diagnostics", callback=lambda message: None)
        app = stack.app(broker_url=broker_url)
        viewer = token_client(app, stack.account("viewer").token)
        queues = {queue["name"]: queue for queue in viewer.get("/api/overview").get_json()["queues"]}
        metrics = viewer.get("/metrics").get_data(as_text=True)
        person = stack.account("viewer")
        browser = app.test_client()
        sign_in(browser, person.email, person.password)
        home = browser.get("/").get_data(as_text=True)
        listener.close()
    assert queues["etl"] | {"name": "etl"} == {"name": "etl", "ready": 1, "consumers": 0, "dead_letter": False,
                                               "stalled": True}
    assert (queues["diagnostics"]["consumers"], queues["diagnostics"]["stalled"]) == (1, False)
    assert not queues["etl.dead"]["stalled"]  # a dead-letter queue has no consumer by design
    assert 'jobs_queue_consumers{queue="diagnostics"} 1.0' in metrics
    assert 'jobs_queue_consumers{queue="etl"} 0.0' in metrics
    assert "etl has 1 waiting and no consumer" in home
