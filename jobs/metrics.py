"""Prometheus metrics observed where jobs change state, shared between processes through files.

prometheus-client's multiprocess mode: every process that observes writes its own files into
PROMETHEUS_MULTIPROC_DIR, and `/metrics` adds up the files of every process. Each long-lived
parent process owns a directory under `<VAR_DIR>/prometheus/` (gunicorn's master `web-<port>/`, each
Celery worker `worker-<node name>/`), wipes it at start-up and sets PROMETHEUS_MULTIPROC_DIR
for its children. A process without it (the Flask dev server, the CLI, tests) counts in memory,
which nothing reads.
"""
from __future__ import annotations

import glob
import os
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from jobs.states import JobState

if TYPE_CHECKING:
    from prometheus_client import Counter, Histogram
    from prometheus_client.metrics_core import Metric


class StateChange(Protocol):
    """A job as a transition left it: an ORM Job or a row a transition returned."""

    @property
    def id(self) -> Any: ...
    @property
    def kind(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def queue(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def finished_at(self) -> datetime | None: ...

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
RUN_TIME_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
QUEUE_WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


def metrics_root(var_dir: Path) -> Path:
    """Where every process's metric files live, one directory per owning process."""
    return var_dir / "prometheus"


def own_metrics_dir(var_dir: Path, owner: str) -> Path:
    """Start this process's metric files afresh in `<var>/prometheus/<owner>` and hand the path to its children.

    Called once at start-up by the parent process (gunicorn master, Celery worker) before it forks.
    """
    path = metrics_root(var_dir) / owner
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(path)
    values = sys.modules.get("prometheus_client.values")
    if values is not None:
        # Already imported, with in-memory storage: the `celery` command loads its Flower plugin, which
        # imports prometheus_client, before any of our code runs. Metrics pick their storage class when
        # a labelled series is first used, so choosing it again here is enough.
        values.ValueClass = values.get_value_class()  # type: ignore[attr-defined]  # a module global its stubs omit
        instruments.cache_clear()
    return path


def mark_process_dead(pid: int) -> None:
    """Forget a dead child's live gauges (gunicorn's child_exit); its counters and histograms stay counted."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]  # unannotated in prometheus_client


@dataclass(frozen=True)
class JobInstruments:
    run_time: Histogram
    queue_wait: Histogram
    retries: Counter
    dead_lettered: Counter
    events_published: Counter


@lru_cache(maxsize=1)
def instruments() -> JobInstruments:
    """The job metrics of this process, created on first use (never registered globally: /metrics reads files)."""
    from prometheus_client import Counter, Histogram

    return JobInstruments(
        run_time=Histogram(
            "jobs_run_duration_seconds", "Time from a job's first start to its end, by kind and final state",
            ["kind", "state"], buckets=RUN_TIME_BUCKETS, registry=None),
        queue_wait=Histogram(
            "jobs_queue_wait_seconds", "Time from a job's submission to its first start, by kind",
            ["kind"], buckets=QUEUE_WAIT_BUCKETS, registry=None),
        retries=Counter("jobs_retries", "Automatic retries scheduled after a transient error, by kind",
                        ["kind"], registry=None),
        dead_lettered=Counter("jobs_dead_lettered", "Job messages rejected into their dead-letter queue",
                              ["kind", "queue"], registry=None),
        events_published=Counter("events_published", "Domain events the broker confirmed on the `events` "
                                 "exchange, by type", ["type"], registry=None),
    )


def observe_state_change(job: StateChange) -> None:
    """Record what a state change tells: the queue wait on the first start, the run time at the end, a retry."""
    state = JobState(job.state)
    if state is JobState.RUNNING and job.attempts == 1 and job.started_at is not None:
        wait = (job.started_at - job.created_at).total_seconds()
        instruments().queue_wait.labels(kind=job.kind).observe(max(0.0, wait))
    elif state.finished and job.started_at is not None and job.finished_at is not None:
        run_time = (job.finished_at - job.started_at).total_seconds()
        instruments().run_time.labels(kind=job.kind, state=state.value).observe(max(0.0, run_time))
    elif state is JobState.RETRYING:
        instruments().retries.labels(kind=job.kind).inc()


def count_dead_lettered(kind: str, queue: str) -> None:
    instruments().dead_lettered.labels(kind=kind, queue=queue).inc()


def count_event_published(event_type: str) -> None:
    instruments().events_published.labels(type=event_type).inc()


class MetricFilesCollector:
    """Adds up the metric files of every process under `<var>/prometheus/` (each owner's directory)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def collect(self) -> Iterable[Metric]:
        from prometheus_client.multiprocess import MultiProcessCollector

        for _ in range(3):
            files = glob.glob(str(self.root / "*" / "*.db"))
            try:
                return list(MultiProcessCollector.merge(files, accumulate=True))  # type: ignore[no-untyped-call]  # unannotated
            except FileNotFoundError:
                continue  # an owner restarted and wiped its directory between the glob and the read
        return []

    def describe(self) -> list[Any]:
        return []  # names are not known ahead; the registry must not collect at registration
