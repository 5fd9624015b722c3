"""Domain events on the real broker: a subscriber of its own gets an invoice's events in order and in the
CloudEvents envelope; an event written while the broker is unreachable arrives once the relay can publish
it; the notification service sends one email for an invoice.issued delivered three times."""
from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from kombu import Connection, Producer
from sqlalchemy import select

from config.settings import load_settings
from invoicing.issue import issue_invoice
from invoicing.models import Invoice
from jobs import lifecycle
from jobs.celery_app import create_celery
from jobs.context import JobContext
from jobs.enqueue import submit_job
from jobs.models import Job, OutboxMessage
from jobs.publisher import OutboxPublisher
from jobs.topology import EVENTS_EXCHANGE
from tests.conftest import Stack
from tests.integration import test_invoices as invoices
from tests.integration.test_api import CLOSED_PORT_BROKER
from tests.integration.test_invoices import invoice_body, submit_invoice
from tests.integration.test_sign_in import sign_in
from tests.support.accounts import token_client
from tests.support.api import wait_for_state
from tests.support.live_app import VENV_BIN
from tests.support.processes import CeleryWorker, Notifier, wait_for
from tests.support.smtp import RecordingHandler
from webapp.schemas.invoices import InvoiceBody

pytestmark = pytest.mark.integration

# The invoice tests' fixtures (their SMTP sink, workers and notification service), for this module too.
smtp, workers, worker, mail = invoices.smtp, invoices.workers, invoices.worker, invoices.mail
notifier, api_app, api = invoices.notifier, invoices.api_app, invoices.api

ENVELOPE = {"id", "source", "specversion", "type", "time", "subject", "datacontenttype", "jobid", "data"}


class Watcher:
    """examples/watch_events.py, as a person runs it, on a queue of its own bound with `key`."""

    def __init__(self, stack: Stack, key: str) -> None:
        self.stack, self.queue = stack, f"watch-{uuid.uuid4().hex[:8]}"
        self.process = stack.process([sys.executable, "examples/watch_events.py", "--broker", stack.broker_url,
                                      "--queue", self.queue, "--bind", key], "watcher")

    def start(self) -> Watcher:
        self.process.start()
        wait_for(lambda: "listening on" in self.process.log_text(), 30, what="the watcher to listen")
        return self

    def events(self, subject: str | None = None) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self.process.log_text().splitlines() if line.startswith("{")]
        return [event for event in lines if subject is None or event["subject"] == subject]

    def stop(self) -> None:
        self.process.stop()
        with Connection(self.stack.broker_url) as connection:
            for name in (self.queue, f"{self.queue}.dead"):
                connection.default_channel.queue_delete(name)


@pytest.fixture
def watcher(stack: Stack) -> Iterator[Any]:
    started: list[Watcher] = []

    def start(key: str) -> Watcher:
        started.append(Watcher(stack, key).start())
        return started[-1]

    yield start
    for each in started:
        each.stop()


def email_jobs(stack: Stack, invoice_job: str) -> list[Job]:
    with stack.db.read_session() as session:
        return list(session.scalars(select(Job).where(Job.caused_by == uuid.UUID(invoice_job),
                                                      Job.kind == "invoice.email")))


def test_a_subscriber_bound_with_invoice_star_gets_exactly_the_invoice_events_in_order(
    stack: Stack, api: FlaskClient, worker: CeleryWorker, mail: RecordingHandler, watcher: Any
) -> None:
    watch = watcher("invoice.*")
    job = wait_for_state(api, submit_invoice(api, invoice_body("events@lodz.test")), "succeeded")
    subject = f"invoices/{job['result']['invoice_id']}"
    wait_for(lambda: len(watch.events(subject)) >= 2, 40, what="the invoice's two events")
    time.sleep(1)  # anything else about it would have arrived by now
    issued, emailed = watch.events(subject)
    assert all(event["type"].startswith("invoice.") for event in watch.events())  # only what it is bound to
    assert (issued["type"], emailed["type"]) == ("invoice.issued", "invoice.emailed")
    assert issued.keys() >= ENVELOPE and issued["specversion"] == "1.0" and issued["source"] == "/background-jobs"
    assert issued["datacontenttype"] == "application/json" and issued["id"] != emailed["id"]
    assert issued["jobid"] == job["id"] and issued["data"]["number"] == job["result"]["number"]
    assert issued["data"]["total"] == job["result"]["total"] and issued["data"]["deliver_by_email"] is True
    [email_job] = email_jobs(stack, job["id"])
    assert emailed["jobid"] == emailed["data"]["job_id"] == str(email_job.id)
    assert emailed["data"]["to"] == "events@lodz.test" and len(mail.messages_to("events@lodz.test")) == 1

    person = stack.account("viewer")  # the invoice's job page lists the email its event started
    browser = stack.app().test_client()
    assert sign_in(browser, person.email, person.password).status_code == 302
    follow_ups = browser.get(f"/jobs/{job['id']}").get_data(as_text=True).split('id="job-follow-ups"')[1]
    assert "invoice.email" in follow_ups.split("</ul>")[0] and str(email_job.id)[:8] in follow_ups
    metrics = token_client(stack.app(), stack.account("viewer").token).get("/metrics").get_data(as_text=True)
    assert 'events_published_total{type="invoice.issued"}' in metrics


def test_an_event_written_while_the_broker_is_unreachable_arrives_once_it_can_be_published(
    stack: Stack, api: FlaskClient, worker: CeleryWorker, mail: RecordingHandler, watcher: Any
) -> None:
    watch = watcher("invoice.issued")
    with stack.db.transaction() as session:  # an invoice job, run here by a worker that cannot reach the broker
        job, _message = submit_job(session, issue_invoice, invoice_body_params("late@lodz.test"))
    delivery = lifecycle.start_attempt(stack.db, job.id, redelivered=False, worker="cut off", max_worker_lost=3,
                                       first_delivery=True)
    cut_off = OutboxPublisher(create_celery(load_settings(stack.env, broker_url=CLOSED_PORT_BROKER)), stack.db,
                              outage_cooldown_s=0)
    issue_invoice.run(JobContext(db=stack.db, job_id=job.id, attempt=delivery.attempt, settings=stack.settings,
                                 params=delivery.params, publish=cut_off.publish_many_after_commit))
    with stack.db.read_session() as session:
        invoice = session.scalars(select(Invoice).where(Invoice.job_id == job.id)).one()
        [event] = session.scalars(select(OutboxMessage).where(OutboxMessage.job_id == job.id,
                                                              OutboxMessage.task_name == "invoice.issued"))
    assert event.sent_at is None and event.event is not None
    time.sleep(1)
    assert watch.events() == []  # committed, not published: nothing reached the broker

    relay = stack.process([str(VENV_BIN / "flask"), "jobs", "relay"], "relay").start()
    try:
        wait_for(lambda: watch.events(f"invoices/{invoice.id}"), 30, what="the event, published by the relay")
    finally:
        relay.stop()
    [arrived] = watch.events(f"invoices/{invoice.id}")
    assert arrived["id"] == event.event["id"] and arrived["jobid"] == str(job.id)
    wait_for(lambda: mail.messages_to("late@lodz.test"), 40, what="its email, sent by the subscriber's job")


def invoice_body_params(email: str) -> dict[str, Any]:
    """The `invoice.create` job's params for the API body of test_invoices."""
    return InvoiceBody.model_validate(invoice_body(email)).to_request().to_dict()


def test_the_notification_service_sends_one_email_for_an_event_delivered_three_times(
    stack: Stack, api: FlaskClient, worker: CeleryWorker, mail: RecordingHandler, notifier: Notifier
) -> None:
    job = wait_for_state(api, submit_invoice(api, invoice_body("twice@lodz.test")), "succeeded")
    wait_for(lambda: mail.messages_to("twice@lodz.test"), 40, what="the first email")
    with stack.db.read_session() as session:
        [row] = session.scalars(select(OutboxMessage).where(OutboxMessage.job_id == uuid.UUID(job["id"]),
                                                            OutboxMessage.task_name == "invoice.issued"))
    assert row.event is not None
    body = json.dumps(row.event).encode()
    with Connection(stack.broker_url) as connection:  # the same event again, twice (a relay after a lost confirm)
        producer = Producer(connection.default_channel)
        for _ in range(2):
            producer.publish(body, exchange=EVENTS_EXCHANGE.name, routing_key="invoice.issued",
                             content_type="application/cloudevents+json", content_encoding="utf-8", delivery_mode=2,
                             message_id=row.event["id"])
    wait_for(lambda: notifier.log_text().count(f"event_id={row.event['id']} ") >= 3, 30,  # type: ignore[index]
             what="the notifier to handle all three deliveries")
    time.sleep(2)
    assert len(email_jobs(stack, job["id"])) == 1 and len(mail.messages_to("twice@lodz.test")) == 1


def test_a_message_that_is_not_an_invoice_event_is_dead_lettered_by_the_notifier(
    stack: Stack, notifier: Notifier
) -> None:
    with Connection(stack.broker_url) as connection:
        Producer(connection.default_channel).publish(b"not a cloud event", exchange=EVENTS_EXCHANGE.name,
                                                     routing_key="invoice.issued", content_type="text/plain")
        wait_for(lambda: connection.default_channel.queue_declare(
            "notifications.invoice-issued.dead", passive=True).message_count >= 1, 30,
            what="the unreadable message in notifications.invoice-issued.dead")
        connection.default_channel.queue_purge("notifications.invoice-issued.dead")
    assert "dead-lettering a message on notifications.invoice-issued" in notifier.log_text()


def test_the_overview_shows_each_event_queue_with_its_depth(stack: Stack, api: FlaskClient) -> None:
    other = f"erp-{uuid.uuid4().hex[:6]}"  # another service's queue, down for now: its events wait
    with Connection(stack.broker_url) as connection:
        channel = connection.default_channel
        EVENTS_EXCHANGE(channel).declare()
        channel.queue_declare(other, durable=True, auto_delete=False, arguments={"x-queue-type": "quorum"})
        channel.queue_bind(other, EVENTS_EXCHANGE.name, routing_key="import.*")
        Producer(channel).publish(b"{}", exchange=EVENTS_EXCHANGE.name, routing_key="import.finished")
        try:
            app = stack.app(event_queues=f" {other} ,")
            overview = token_client(app, stack.account("viewer").token).get("/api/overview").get_json()
        finally:
            channel.queue_delete(other)
    queues = {queue["name"]: queue for queue in overview["event_queues"]}
    assert list(queues) == ["notifications.invoice-issued", "notifications.invoice-issued.dead", other]
    assert queues["notifications.invoice-issued"]["binding_keys"] == ["invoice.issued"]
    assert queues[other]["ready"] == 1 and queues[other]["binding_keys"] is None
