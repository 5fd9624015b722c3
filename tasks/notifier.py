"""The notification service's process: `python -m tasks.notifier` (the Procfile's `notifier` line).

It subscribes to billing's `invoice.issued` on its own queue (notifications/subscriber.py) and
starts each invoice's email job; the `notifications` workers run those jobs. Run one or several:
the queue hands each event to one of them, and an event seen twice starts one email.
"""
from __future__ import annotations

import signal
from typing import Any

from config.logging_setup import configure_logging
from config.settings import get_settings
from jobs.celery_app import create_celery, declare_topology
from jobs.db import Database
from jobs.publisher import OutboxPublisher
from notifications.subscriber import InvoiceIssuedSubscriber


def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    app = create_celery(settings)  # the outbox publisher builds the email jobs' task messages with it
    db = Database(settings.resolved_database_url)
    publisher = OutboxPublisher(app, db, outage_cooldown_s=settings.broker_outage_cooldown_s)
    with app.connection_for_read() as connection:
        declare_topology(connection)
        subscriber = InvoiceIssuedSubscriber(connection, db, publisher.publish_many_after_commit)

        def stop(*_: Any) -> None:
            subscriber.should_stop = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        subscriber.run()
    publisher.close()
    db.dispose()


if __name__ == "__main__":
    main()
