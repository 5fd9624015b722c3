"""The worker's entry point: `celery -A tasks.worker worker -Q <queues>`."""
from __future__ import annotations

from typing import Any

from celery.signals import worker_process_init, worker_ready

from config.settings import get_settings
from jobs.celery_app import create_celery, declare_topology
from tasks.runtime import worker_database

TASK_MODULES = ["tasks.diagnostics", "tasks.etl", "tasks.invoices"]

app = create_celery(get_settings())
app.conf.imports = TASK_MODULES


@worker_ready.connect
def _declare_topology(sender: Any = None, **_: Any) -> None:
    with app.connection_for_write() as connection:
        declare_topology(connection)


@worker_process_init.connect
def _fresh_database_per_child(**_: Any) -> None:
    worker_database().dispose()
