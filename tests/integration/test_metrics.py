"""/metrics and JSON logs with real processes: gunicorn (2 workers, config/gunicorn.conf.py) and a `celery worker`.

The worker's pool processes write the histograms and counters into their files; gunicorn's workers
read them at scrape time, with job counts from the database and queue depths from the broker.
"""
from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from jobs.metrics import metrics_root
from tests.conftest import Stack
from tests.support.accounts import Account, token_client
from tests.support.live_app import VENV_BIN, answers, free_port
from tests.support.processes import ManagedProcess, WorkerSlot, wait_for

pytestmark = pytest.mark.integration

CLOSED_PORT_BROKER = "amqp://guest:guest@127.0.0.1:1//"
SLEEP = "diagnostics.sleep"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class Web:
    """gunicorn as the Procfile runs it, on a free port, logging JSON."""

    process: ManagedProcess
    port: int

    def request(self, method: str, path: str, token: str | None = None, body: dict | None = None
                ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()


@pytest.fixture(scope="module")
def web(stack: Stack) -> Iterator[Web]:
    port = free_port()
    process = stack.process([str(VENV_BIN / "gunicorn"), "-c", "config/gunicorn.conf.py", "webapp:create_app()"],
                            "gunicorn", WEB_HOST="127.0.0.1", WEB_PORT=str(port), WEB_WORKERS="2",
                            LOG_FORMAT="json").start()
    try:
        wait_for(lambda: answers(f"http://127.0.0.1:{port}/healthz"), 60, what="gunicorn to answer")
        yield Web(process, port)
    finally:
        process.stop()


@pytest.fixture(scope="module")
def workers(stack: Stack) -> Iterator[WorkerSlot]:
    """This module's own worker (logging JSON): the stack's shared worker is stopped so it takes no job of ours."""
    stack.stop_worker()
    slot = WorkerSlot({**stack.env, "LOG_FORMAT": "json"}, stack.log_dir, "diagnostics", 2)
    slot.ensure()
    yield slot
    slot.stop()


@pytest.fixture(scope="module")
def viewer(stack: Stack) -> Account:
    return stack.account("viewer")


@pytest.fixture(scope="module")
def operator_token(stack: Stack) -> str:
    return stack.account("operator").token


def parse(text: str) -> Samples:
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def scrape(web: Web, viewer: Account) -> Samples:
    status, headers, body = web.request("GET", "/metrics", viewer.token)
    assert status == 200, body[:500]
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(body.decode())


def scrape_until(web: Web, viewer: Account, predicate: Any, what: str) -> Samples:
    """Scrape until `predicate(samples)` holds; return those samples."""
    def check() -> Samples | None:
        samples = scrape(web, viewer)
        return samples if predicate(samples) else None

    return wait_for(check, 15, interval=0.3, what=what)  # type: ignore[return-value]


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def submit(web: Web, token: str, **params: Any) -> str:
    status, _headers, body = web.request("POST", "/api/diagnostics/sleep", token, params)
    assert status == 202, body
    return json.loads(body)["id"]


def wait_for_states(web: Web, token: str, job_ids: list[str], state: str, timeout: float = 40) -> None:
    def all_there() -> bool:
        return all(json.loads(web.request("GET", f"/api/jobs/{job_id}", token)[2])["state"] == state
                   for job_id in job_ids)

    wait_for(all_there, timeout, interval=0.2, what=f"{len(job_ids)} jobs to be {state}")


def test_metrics_need_a_viewer_token(web: Web) -> None:
    status, headers, _body = web.request("GET", "/metrics")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")  # a scraper, not a person
    status, headers, _body = web.request("GET", "/metrics", "jbt_not-a-real-token")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")


def test_jobs_run_by_the_worker_show_in_counts_and_histograms(
    stack: Stack, web: Web, workers: WorkerSlot, viewer: Account, operator_token: str
) -> None:
    before = scrape(web, viewer)
    job_ids = [submit(web, operator_token, seconds=0.3) for _ in range(4)]
    wait_for_states(web, operator_token, job_ids, "succeeded")

    after = scrape(web, viewer)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("jobs", kind=SLEEP, state="succeeded") == 4  # counted in the database
    assert value(after, "jobs", kind="invoice.customer_batch", state="cancelled") == 0  # known series are there at 0
    assert delta("jobs_run_duration_seconds_count", kind=SLEEP, state="succeeded") == 4  # from the worker's files
    assert delta("jobs_run_duration_seconds_sum", kind=SLEEP, state="succeeded") >= 4 * 0.3
    assert delta("jobs_run_duration_seconds_bucket", kind=SLEEP, state="succeeded", le="0.25") == 0
    assert delta("jobs_queue_wait_seconds_count", kind=SLEEP) == 4
    assert value(after, "jobs_broker_up") == 1
    # Both gunicorn workers read the same files: whichever answers, the figures agree.
    runs = value(after, "jobs_run_duration_seconds_count", kind=SLEEP, state="succeeded")
    assert {value(scrape(web, viewer), "jobs_run_duration_seconds_count", kind=SLEEP, state="succeeded")
            for _ in range(6)} == {runs}
    root = metrics_root(stack.settings.var_dir)
    assert (root / f"web-{web.port}").is_dir()  # made by gunicorn's on_starting
    assert list(root.glob("worker-test-*/histogram_*.db"))  # written by the worker's pool processes


def test_a_job_failing_its_last_retry_counts_retries_and_a_dead_letter(
    web: Web, workers: WorkerSlot, viewer: Account, operator_token: str
) -> None:
    before = scrape(web, viewer)
    job_id = submit(web, operator_token, seconds=0, fail_times=99)  # more failures than JOB_MAX_RETRIES=2
    wait_for_states(web, operator_token, [job_id], "failed")

    dead_before = value(before, "jobs_queue_messages_ready", queue="diagnostics.dead")
    after = scrape_until(web, viewer, lambda s: value(s, "jobs_queue_messages_ready", queue="diagnostics.dead")
                         > dead_before, "the message in diagnostics.dead")

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("jobs_retries_total", kind=SLEEP) == 2
    assert delta("jobs_dead_lettered_total", kind=SLEEP, queue="diagnostics") == 1
    assert delta("jobs_run_duration_seconds_count", kind=SLEEP, state="failed") == 1
    assert delta("jobs", kind=SLEEP, state="failed") == 1
    assert delta("jobs_queue_messages_ready", queue="diagnostics.dead") == 1


def test_queue_depth_shows_messages_waiting_for_a_worker(
    web: Web, workers: WorkerSlot, viewer: Account, operator_token: str
) -> None:
    workers.stop()
    before = value(scrape(web, viewer), "jobs_queue_messages_ready", queue="diagnostics")
    job_ids = [submit(web, operator_token, seconds=0) for _ in range(3)]

    waiting = scrape_until(web, viewer, lambda s: value(s, "jobs_queue_messages_ready", queue="diagnostics")
                           == before + 3, "3 messages ready in diagnostics")
    assert value(waiting, "jobs", kind=SLEEP, state="queued") >= 3

    workers.ensure()
    wait_for_states(web, operator_token, job_ids, "succeeded")
    scrape_until(web, viewer, lambda s: value(s, "jobs_queue_messages_ready", queue="diagnostics") == before,
                 "the queue to drain")


def test_broker_down_metrics_still_answer_with_broker_up_0_and_the_outbox_backlog(stack: Stack) -> None:
    offline = stack.app(broker_url=CLOSED_PORT_BROKER)
    viewer = token_client(offline, stack.account("viewer").token)
    before = parse(viewer.get("/metrics").get_data(as_text=True))

    response = stack.client(offline, "operator").post("/api/diagnostics/sleep", json={"seconds": 0})
    assert response.status_code == 202  # accepted into the outbox; nobody can publish it
    time.sleep(0.2)
    response = viewer.get("/metrics")

    assert response.status_code == 200
    after = parse(response.get_data(as_text=True))
    assert value(after, "jobs_broker_up") == 0
    assert not [key for key in after if key[0] == "jobs_queue_messages_ready"]  # nothing made up
    assert value(after, "jobs_outbox_unsent") == value(before, "jobs_outbox_unsent") + 1
    assert value(after, "jobs_outbox_oldest_unsent_age_seconds") >= 0.2
    assert value(after, "jobs", kind=SLEEP, state="queued") == value(before, "jobs", kind=SLEEP, state="queued") + 1


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_one_job_id_follows_a_job_from_the_web_request_to_the_worker_in_json_logs(
    web: Web, workers: WorkerSlot, operator_token: str
) -> None:
    job_id = submit(web, operator_token, seconds=0.2)
    wait_for_states(web, operator_token, [job_id], "succeeded")
    worker_log = workers.ensure().log_text()

    web_states = [line for line in json_lines(web.process.log_text()) if line.get("job_id") == job_id]
    worker_states = [line for line in json_lines(worker_log) if line.get("job_id") == job_id]
    assert [line["state"] for line in web_states] == ["queued"]
    assert [line["state"] for line in worker_states] == ["running", "succeeded"]
    for line in web_states + worker_states:
        assert line["logger"] == "jobs.lifecycle" and line["level"] == "INFO"
        assert line["kind"] == SLEEP and line["queue"] == "diagnostics" and line["timestamp"]
        assert f"job_id={job_id}" in line["message"]
    assert worker_states[0]["attempt"] == 1 and worker_states[-1]["duration_s"] >= 0.2
    # Every worker line about the job is JSON, Celery's own ("Task ... received/succeeded") included.
    about_the_job = [line for line in worker_log.splitlines() if job_id in line]
    assert len(about_the_job) > 2 and all(line.startswith("{") for line in about_the_job)
