"""Watch the application's domain events from a queue of your own: the way another service subscribes.

    pip install kombu cloudevents          # or use the application's .venv
    python examples/watch_events.py --bind 'invoice.*' --bind 'import.finished'

It declares a durable quorum queue of its own (default `watch-events`), bound to the `events`
topic exchange with each key, and a dead-letter queue `<queue>.dead` for messages it cannot read.
It takes one event at a time (prefetch 1), prints it as one JSON line (the CloudEvent's attributes
and data) and only then acknowledges it. Stop it and start it again: the queue kept what was
published meanwhile. Delete the queue when you are done (`rabbitmqctl delete_queue watch-events`).
Event types and their data are described in docs/asyncapi.yaml.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any

from cloudevents.core.bindings.rabbitmq import RabbitMQMessage, from_structured
from cloudevents.core.formats.json import JSONFormat
from kombu import Connection, Consumer, Exchange, Message, Queue, binding

EVENTS = Exchange("events", type="topic", durable=True)


def own_queue(name: str, keys: list[str]) -> list[Queue]:
    """The watcher's queue, bound with each key, dead-lettering through the default exchange to `<name>.dead`."""
    dead = Queue(f"{name}.dead", durable=True, queue_arguments={"x-queue-type": "quorum"})
    main = Queue(name, bindings=[binding(EVENTS, routing_key=key) for key in keys], durable=True,
                 queue_arguments={"x-queue-type": "quorum", "x-delivery-limit": 5,
                                  "x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead.name})
    return [main, dead]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672//")
    parser.add_argument("--queue", default="watch-events")
    parser.add_argument("--bind", action="append", help="a routing key such as invoice.* or # (repeatable)")
    parser.add_argument("--count", type=int, default=0, help="exit after this many events (0: run until stopped)")
    args = parser.parse_args()
    queues = own_queue(args.queue, args.bind or ["#"])
    seen = 0
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    def on_message(message: Message) -> None:
        nonlocal seen
        try:
            event = from_structured(RabbitMQMessage(headers={}, content_type=message.content_type,
                                                    body=message.body), JSONFormat())
        except Exception as exc:  # noqa: BLE001 - anything unreadable goes to the dead-letter queue
            print(f"unreadable message dead-lettered: {exc}", file=sys.stderr, flush=True)
            message.reject(requeue=False)
            return
        attributes = {key: str(value) for key, value in event.get_attributes().items()}
        print(json.dumps({**attributes, "data": event.get_data()}), flush=True)
        message.ack()
        seen += 1

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with Connection(args.broker) as connection:
        channel = connection.channel()
        for queue in queues:
            queue(channel).declare()
        with Consumer(channel, queues=queues[:1], on_message=on_message, prefetch_count=1, no_ack=False):
            print(f"listening on {args.queue} for {', '.join(args.bind or ['#'])}", file=sys.stderr, flush=True)
            while not stopping and not (args.count and seen >= args.count):
                try:
                    connection.drain_events(timeout=1)
                except TimeoutError:
                    continue
    return 0


if __name__ == "__main__":
    sys.exit(main())
