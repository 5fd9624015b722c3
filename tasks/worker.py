"""The worker's entry point: `celery -A tasks.worker worker -Q <queues>`."""
from __future__ import annotations

from typing import Any

from celery.signals import after_setup_logger, after_setup_task_logger, worker_init, worker_process_init, worker_ready

from config.logging_setup import json_formatter, use_formatter
from config.settings import get_settings
from jobs.celery_app import create_celery, declare_topology
from jobs.metrics import own_metrics_dir
from tasks.base import register_job_tasks
from tasks.runtime import forget_parent_connections, worker_database

app = create_celery(get_settings())
register_job_tasks(app)


def _declare_topology(sender: Any = None, **_: Any) -> None:
    with app.connection_for_write() as connection:
        declare_topology(connection)


def _fresh_database_per_child(**_: Any) -> None:
    worker_database().dispose()
    forget_parent_connections()


def _own_metrics_dir(sender: Any = None, **_: Any) -> None:
    """Before the pool forks: this worker's Prometheus files, fresh at start, in var/prometheus/worker-<node>."""
    own_metrics_dir(get_settings().var_dir, f"worker-{sender.hostname}")


def _log_format(logger: Any = None, **_: Any) -> None:
    """Celery sets up its handlers from `-l`; LOG_FORMAT=json only changes how their lines are written."""
    if get_settings().log_format == "json":
        use_formatter(logger, json_formatter())


# Connected here rather than as decorators: Celery's signals are untyped, a call keeps the receivers typed.
worker_ready.connect(_declare_topology)
worker_process_init.connect(_fresh_database_per_child)
worker_init.connect(_own_metrics_dir)
after_setup_logger.connect(_log_format)
after_setup_task_logger.connect(_log_format)
