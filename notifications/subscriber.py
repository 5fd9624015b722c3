"""The notification service's subscription: `invoice.issued` events start the invoice's email job.

Its own durable quorum queue, `notifications.invoice-issued`, is bound to the `events` exchange
with the key `invoice.issued` (and dead-letters into `notifications.invoice-issued.dead`), so
billing knows nothing of it and an event published while it is down waits in the queue. It takes
one event at a time (prefetch 1) and acknowledges it only after the email job is committed:

- an event delivered twice starts one email, keyed by the event's id (jobs.idempotency), so a
  redelivery, or the same event published again by the relay after a lost confirm, changes nothing;
- the email is a job like any other (tracked, retried with backoff, dead-lettered), recorded as
  caused by the invoice's job (jobs.caused_by), which lists it on its page;
- an event that is not a CloudEvent of a known invoice is rejected into the dead-letter queue with
  the reason logged; while the database is unreachable the event stays unacknowledged and is
  handled again with backoff, so nothing is lost and nothing is dead-lettered for an outage.

Order: the service needs none. It reads only `invoice.issued`, and the later events of an invoice
(`invoice.emailed`, `invoice.email_failed`) are caused by it, so they are written after it.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cloudevents.core.bindings.rabbitmq import RabbitMQMessage, from_structured
from cloudevents.core.formats.json import JSONFormat
from kombu import Consumer, Message, Queue
from kombu.mixins import ConsumerMixin
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from invoicing.issue import INVOICE_ISSUED
from jobs import idempotency
from jobs.db import Database
from jobs.models import Job, OutboxRow
from jobs.topology import INVOICE_ISSUED_SUBSCRIPTION, subscriber_queue
from notifications.invoice_email import email_invoice

log = logging.getLogger("notifications")

QUEUE = INVOICE_ISSUED_SUBSCRIPTION.queue
MAX_BACKOFF_S = 30.0


def subscriber_queues() -> list[Queue]:
    """The subscription's queue (bound to `invoice.issued`) and its dead-letter queue."""
    return subscriber_queue(QUEUE, INVOICE_ISSUED_SUBSCRIPTION.binding_keys)


class NotAnInvoiceEvent(ValueError):
    """A message this service cannot act on (dead-lettered)."""


@dataclass(frozen=True)
class IssuedInvoice:
    event_id: str
    invoice_id: str
    customer_email: str
    deliver_by_email: bool
    invoice_job: uuid.UUID


def read_event(body: bytes, content_type: str | None, headers: dict[str, Any]) -> IssuedInvoice:
    """The invoice.issued event in the message (CloudEvents structured mode); NotAnInvoiceEvent otherwise."""
    try:
        event = from_structured(RabbitMQMessage(headers={k: str(v) for k, v in headers.items()},
                                                content_type=content_type, body=body), JSONFormat())
        data = event.get_data()
        if event.get_type() != INVOICE_ISSUED.name or not isinstance(data, dict):
            raise NotAnInvoiceEvent(f"not an {INVOICE_ISSUED.name} event: {event.get_type()!r}")
        return IssuedInvoice(event.get_id(), str(uuid.UUID(str(data["invoice_id"]))), str(data["customer_email"]),
                             bool(data["deliver_by_email"]), uuid.UUID(str(event.get_extension("jobid"))))
    except NotAnInvoiceEvent:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the SDK or the data raise, the message is unusable
        raise NotAnInvoiceEvent(f"{type(exc).__name__}: {exc}") from None


def start_email(db: Database, issued: IssuedInvoice) -> tuple[uuid.UUID | None, OutboxRow | None]:
    """The invoice's email job for this event, new or found (one per event id); (None, None) when the
    invoice is not to be emailed."""
    if not issued.deliver_by_email or not issued.customer_email:
        return None, None
    with db.transaction() as session:
        job, message = idempotency.submit_once(
            session, email_invoice, {"invoice_id": issued.invoice_id, "to": issued.customer_email},
            key=f"event:{issued.event_id}", wait=True)
        if message is not None:
            session.execute(update(Job).where(Job.id == job.id).values(caused_by=issued.invoice_job))
    return job.id, message


class InvoiceIssuedSubscriber(ConsumerMixin):
    """Consumes `notifications.invoice-issued` (kombu, manual acknowledgements, prefetch 1)."""

    def __init__(self, connection: Any, db: Database, publish: Callable[[Sequence[OutboxRow]], object]) -> None:
        self.connection = connection
        self.db = db
        self.publish = publish
        self.should_stop = False  # set by a signal handler; ConsumerMixin's loop ends

    def get_consumers(self, consumer: type[Consumer], channel: Any) -> list[Consumer]:
        main, dead = subscriber_queues()
        dead(channel).declare()  # consumed by nobody here: operators read it
        # on_message: the raw message (its CloudEvent content type is not one of kombu's serializers).
        return [consumer(queues=[main], on_message=self.on_message, prefetch_count=1, no_ack=False)]

    def on_consume_ready(self, connection: Any, channel: Any, consumers: list[Consumer], **kwargs: Any) -> None:
        log.info("subscribed to %s on %s", INVOICE_ISSUED.name, QUEUE)

    def on_message(self, message: Message) -> None:
        try:
            issued = read_event(message.body, message.content_type, dict(message.headers or {}))
        except NotAnInvoiceEvent as exc:
            log.error("dead-lettering a message on %s: %s", QUEUE, exc)
            message.reject(requeue=False)
            return
        backoff = 0.5
        while True:
            try:
                job_id, pending = start_email(self.db, issued)
                break
            except OperationalError as exc:
                if self.should_stop:
                    return  # unacknowledged: the broker gives it to the next consumer
                log.warning("event_id=%s: database unavailable (%s); again in %.1f s", issued.event_id,
                            str(exc).splitlines()[0][:200], backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
        if pending is not None:
            self.publish([pending])  # after the commit; the relay publishes it if the broker does not take it now
        message.ack()
        log.info("event_id=%s invoice_id=%s email_job=%s", issued.event_id, issued.invoice_id, job_id)
