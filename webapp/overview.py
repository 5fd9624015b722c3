"""The operator's overview: jobs per state, queue depths and the outbox backlog, for the home page and its API."""
from __future__ import annotations

from typing import Any

from jobs.monitoring import (
    QueueFigures,
    event_queue_names,
    job_counts,
    monitored_queue_names,
    outbox_backlog,
    read_queue_figures,
)
from jobs.states import JobState
from jobs.topology import SUBSCRIPTIONS
from webapp.runtime import WebRuntime

BROKER_TIMEOUT_S = 2.0


def _queue(name: str, figures: QueueFigures | None) -> dict[str, Any]:
    """A queue's line: ready messages and consumers; `stalled` when messages wait with nobody to take them (a
    dead-letter queue has no consumer by design and is never stalled)."""
    figures = figures or QueueFigures(0, 0)
    dead = name.endswith(".dead")
    return {"name": name, "ready": figures.ready, "consumers": figures.consumers, "dead_letter": dead,
            "stalled": figures.stalled and not dead}


def overview(rt: WebRuntime) -> dict[str, Any]:
    """What the home page shows; `queues` is None when the broker is unreachable."""
    with rt.db.read_session() as session:
        counts = job_counts(session)
        backlog = outbox_backlog(session)
    by_state = {state.value: 0 for state in JobState}
    for (_kind, state), count in counts.items():
        by_state[state] = by_state.get(state, 0) + count
    watched = event_queue_names(rt.settings.event_queues)
    figures, broker_up = read_queue_figures(rt.settings.broker_url, BROKER_TIMEOUT_S,
                                            [*monitored_queue_names(), *watched])
    keys = {subscription.queue: list(subscription.binding_keys) for subscription in SUBSCRIPTIONS}
    queues = None if not broker_up else [_queue(name, figures.get(name)) for name in monitored_queue_names()]
    event_queues = None if not broker_up else [
        _queue(name, figures.get(name)) | {"binding_keys": keys.get(name)} for name in watched]
    return {
        "jobs_by_state": by_state,
        "queues": queues,
        "event_queues": event_queues,
        "outbox": {"unsent": backlog.count, "oldest_age_s": None if backlog.oldest_age_s is None
                   else round(backlog.oldest_age_s, 1)},
    }
