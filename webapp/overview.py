"""The operator's overview: jobs per state, queue depths and the outbox backlog, for the home page and its API."""
from __future__ import annotations

import logging
from typing import Any

from jobs.monitoring import broker_connection, job_counts, monitored_queue_names, outbox_backlog, queue_depths
from jobs.states import JobState
from webapp.runtime import WebRuntime

log = logging.getLogger(__name__)

BROKER_TIMEOUT_S = 2.0


def broker_queue_depths(broker_url: str) -> dict[str, int] | None:
    """Ready messages per queue, or None when the broker does not answer within BROKER_TIMEOUT_S."""
    try:
        with broker_connection(broker_url, BROKER_TIMEOUT_S) as connection:
            connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_S)
            return queue_depths(connection)
    except Exception as error:  # noqa: BLE001 - any broker failure shows as "unavailable", never as a 500
        log.warning("queue depths unavailable: %s", error)
        return None


def overview(rt: WebRuntime) -> dict[str, Any]:
    """What the home page shows; `queues` is None when the broker is unreachable."""
    with rt.db.read_session() as session:
        counts = job_counts(session)
        backlog = outbox_backlog(session)
    by_state = {state.value: 0 for state in JobState}
    for (_kind, state), count in counts.items():
        by_state[state] = by_state.get(state, 0) + count
    depths = broker_queue_depths(rt.settings.broker_url)
    queues = None if depths is None else [
        {"name": name, "ready": depths.get(name, 0), "dead_letter": name.endswith(".dead")}
        for name in monitored_queue_names()
    ]
    return {
        "jobs_by_state": by_state,
        "queues": queues,
        "outbox": {"unsent": backlog.count, "oldest_age_s": None if backlog.oldest_age_s is None
                   else round(backlog.oldest_age_s, 1)},
    }
