"""The worker's entry point: `celery -A tasks.worker worker -Q <queues>`."""
from __future__ import annotations

from typing import Any

from celery.signals import after_setup_logger, after_setup_task_logger, worker_init, worker_process_init, worker_ready

from config.logging_setup import json_formatter, use_formatter
from config.settings import get_settings
from jobs.celery_app import create_celery, declare_topology
from jobs.metrics import own_metrics_dir
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


@worker_init.connect
def _own_metrics_dir(sender: Any = None, **_: Any) -> None:
    """Before the pool forks: this worker's Prometheus files, fresh at start, in var/prometheus/worker-<node>."""
    own_metrics_dir(get_settings().var_dir, f"worker-{sender.hostname}")


@after_setup_logger.connect
@after_setup_task_logger.connect
def _log_format(logger: Any = None, **_: Any) -> None:
    """Celery sets up its handlers from `-l`; LOG_FORMAT=json only changes how their lines are written."""
    if get_settings().log_format == "json":
        use_formatter(logger, json_formatter())
