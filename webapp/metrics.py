"""`GET /metrics`: Prometheus metrics of every process, plus figures read from the database and broker per scrape."""
from __future__ import annotations

from collections.abc import Callable, Iterator

from flask import Blueprint, Response, request
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric

from accounts.roles import Role
from config.settings import Settings
from jobs.db import Database
from jobs.kinds import declared_kinds
from jobs.metrics import MetricFilesCollector, metrics_root
from jobs.monitoring import job_counts, monitored_queue_names, outbox_backlog, read_queue_figures
from jobs.states import JobState
from webapp.access import requires
from webapp.retention import past_retention
from webapp.runtime import runtime

bp = Blueprint("metrics", __name__)


class DatabaseCollector:
    """Jobs by kind and state, and the outbox backlog, counted in the database at scrape time."""

    def __init__(self, db: Database, past_retention: Callable[[], int] = lambda: 0) -> None:
        self.db = db
        self.past_retention = past_retention

    def collect(self) -> Iterator[Metric]:
        with self.db.read_session() as session:
            counts = job_counts(session)
            backlog = outbox_backlog(session)
        yield GaugeMetricFamily("jobs_past_retention", "Finished jobs older than JOB_RETENTION_DAYS not purged "
                                "yet (the relay purges hourly; a growing value means purges fail)",
                                value=self.past_retention())
        jobs = GaugeMetricFamily("jobs", "Jobs in the database by kind and state", labels=["kind", "state"])
        # Every known combination, zeros included, so that a series does not vanish when its last job moves on.
        keys = {(kind, state.value) for kind in declared_kinds() for state in JobState} | set(counts)
        for kind, state in sorted(keys):
            jobs.add_metric([kind, state], counts.get((kind, state), 0))
        yield jobs
        yield GaugeMetricFamily("jobs_outbox_unsent", "Outbox messages not yet published to the broker",
                                value=backlog.count)
        yield GaugeMetricFamily("jobs_outbox_oldest_unsent_age_seconds",
                                "Age of the oldest unpublished outbox message (0 when there is none)",
                                value=backlog.oldest_age_s or 0.0)

    def describe(self) -> list[Metric]:
        return []


class BrokerCollector:
    """Ready messages and consumers per task and dead-letter queue, asked of the broker with a short timeout."""

    def __init__(self, broker_url: str, timeout_s: float) -> None:
        self.broker_url = broker_url
        self.timeout_s = timeout_s

    def collect(self) -> Iterator[Metric]:
        figures, up = read_queue_figures(self.broker_url, self.timeout_s)
        ready = GaugeMetricFamily("jobs_queue_messages_ready", "Messages ready for delivery per queue",
                                  labels=["queue"])
        consumers = GaugeMetricFamily("jobs_queue_consumers", "Consumers attached to each queue (workers' "
                                      "channels); 0 with ready messages means nobody takes them", labels=["queue"])
        for name in monitored_queue_names():
            if name in figures:
                ready.add_metric([name], figures[name].ready)
                consumers.add_metric([name], figures[name].consumers)
        yield ready
        yield consumers
        yield GaugeMetricFamily("jobs_broker_up", "1 when the broker answered this scrape, else 0", value=int(up))

    def describe(self) -> list[Metric]:
        return []


def scrape_registry(settings: Settings, db: Database) -> CollectorRegistry:
    """What one scrape reports: every process's metric files, the database and the broker."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MetricFilesCollector(metrics_root(settings.var_dir)))
    registry.register(DatabaseCollector(db, lambda: past_retention(db, settings)))
    registry.register(BrokerCollector(settings.broker_url, settings.broker_connect_timeout_s))
    return registry


@bp.get("/metrics")
@requires(Role.VIEWER)
def metrics() -> Response:
    rt = runtime()
    # The format the scraper asks for (Prometheus text 0.0.4 by default, OpenMetrics on request).
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(scrape_registry(rt.settings, rt.db)), content_type=content_type)
