"""Job kinds are declared once: the worker's tasks, the routes and the time limits all come from the declarations."""
from __future__ import annotations

from typing import Any

import pytest

from config.settings import JOB_FAMILIES, load_settings
from jobs.celery_app import create_celery, time_limit_annotations
from jobs.context import JobContext
from jobs.kinds import JobKind, declared_kinds, job_kind, kind_named, task_routes
from jobs.topology import DIAGNOSTICS, QUEUES, QueueSpec


def worker_task_names() -> set[str]:
    from tasks.worker import app

    return {name for name in app.tasks if not name.startswith("celery.")}


def test_the_declared_kinds_the_worker_tasks_and_the_routes_are_the_same_set() -> None:
    declared = set(declared_kinds())
    assert declared == {"diagnostics.noop", "diagnostics.sleep", "etl.import", "invoice.batch", "invoice.create",
                        "invoice.customer_batch", "invoice.email"}
    assert worker_task_names() == declared
    assert set(task_routes()) == declared


def test_every_kind_routes_to_its_own_queue_with_its_familys_time_limits() -> None:
    settings = load_settings({})
    annotations = time_limit_annotations(settings)
    for kind in declared_kinds().values():
        assert task_routes()[kind.name] == {"queue": kind.queue.name, "routing_key": kind.queue.name}
        assert kind.queue in QUEUES
        soft, hard = settings.time_limits(kind.family)
        assert annotations[kind.name] == {"soft_time_limit": soft, "time_limit": hard}
    assert kind_named("invoice.customer_batch").queue.name == "invoices.bulk"
    assert kind_named("etl.import").family == "etl"


def test_every_family_of_a_queue_is_a_time_limit_setting() -> None:
    assert {queue.family for queue in QUEUES} <= set(JOB_FAMILIES)
    with pytest.raises(ValueError, match="unknown family"):
        QueueSpec("reports", "reports")


def test_the_celery_app_routes_what_is_declared() -> None:
    app = create_celery(load_settings({}))
    assert app.conf.task_routes == task_routes()


def test_a_kind_declared_twice_with_another_function_is_refused() -> None:
    def first(ctx: JobContext) -> dict[str, Any]:
        return {}

    def second(ctx: JobContext) -> dict[str, Any]:
        return {}

    kind = job_kind("diagnostics.test-duplicate", queue=DIAGNOSTICS)(first)
    try:
        assert isinstance(kind, JobKind) and kind.name == "diagnostics.test-duplicate"
        with pytest.raises(ValueError, match="declared twice"):
            job_kind("diagnostics.test-duplicate", queue=DIAGNOSTICS)(second)
    finally:
        from jobs import kinds

        kinds._declared.pop("diagnostics.test-duplicate", None)
