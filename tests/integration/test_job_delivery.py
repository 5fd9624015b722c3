"""Delivery guarantees against the real RabbitMQ with real `celery worker` processes, on SQLite and PostgreSQL."""
from __future__ import annotations

import contextlib
import itertools
import sys
import time
import uuid
from datetime import datetime

import psutil
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from jobs.models import OutboxMessage
from tests.conftest import Stack
from tests.support.api import get_job, submit_sleep, wait_for_job, wait_for_state
from tests.support.processes import CeleryWorker, wait_for
from tests.support.services import close_broker_connections, drain_queue, postgres_outage, queue_depth
from webapp.runtime import WebRuntime

pytestmark = pytest.mark.integration


def started_times(job: dict) -> list[datetime]:
    return [datetime.fromisoformat(a["started_at"]) for a in job["attempt_history"]]


def wait_for_dead_letter(stack: Stack, job_id: str, queue: str = "diagnostics") -> dict:
    """Take messages out of `<queue>.dead` until the job's message turns up; return it."""
    seen: list[dict] = []

    def arrived() -> dict | None:
        seen.extend(drain_queue(stack.broker_url, f"{queue}.dead"))
        return next((message for message in seen if message["args"][0] == job_id), None)

    return wait_for(arrived, 10, what=f"job {job_id} in {queue}.dead")  # type: ignore[return-value]


def runtime_of(app: Flask) -> WebRuntime:
    return app.extensions["jobs"]


def running_pid(job: dict) -> int:
    """The pid of the pool process running the job's current attempt (recorded by the worker)."""
    return int(job["attempt_history"][-1]["worker"].rsplit("pid=", 1)[1])


def test_job_goes_queued_running_succeeded_with_progress(client: FlaskClient, worker: CeleryWorker) -> None:
    response = client.post("/api/diagnostics/sleep", json={"seconds": 1.5, "steps": 3})
    assert response.status_code == 202
    job_id = response.get_json()["id"]
    assert response.headers["Location"] == f"/api/jobs/{job_id}"
    assert response.get_json()["state"] == "queued"

    midway = wait_for_job(client, job_id, lambda j: j["state"] == "running" and 0 < j["progress"]["done"] < 3,
                          timeout=20, what="progress between the first and last step")
    assert midway["progress"]["total"] == 3
    assert midway["progress"]["message"].startswith("step ")

    done = wait_for_state(client, job_id, "succeeded")
    assert done["progress"] == {"done": 3, "total": 3, "percent": 100.0, "message": "step 3 of 3"}
    assert done["result"] == {"slept_s": 1.5, "steps": 3, "attempt": 1}
    assert done["attempts"] == 1 and done["finished_at"] and done["error"] is None


def test_transient_failures_retry_with_growing_gaps_then_succeed(client: FlaskClient, worker: CeleryWorker) -> None:
    job_id = submit_sleep(client, seconds=0, fail_times=2)
    job = wait_for_state(client, job_id, "succeeded", timeout=30)
    assert job["attempts"] == 3
    assert [a["outcome"] for a in job["attempt_history"]] == ["retrying", "retrying", "succeeded"]
    scheduled = [a["error"]["retry_in_s"] for a in job["attempt_history"][:2]]
    assert 1 <= scheduled[0] < 2 <= scheduled[1] < 4, scheduled  # retry n waits in [2**n, 2**(n+1)) s
    starts = started_times(job)
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(starts)]
    for gap, planned in zip(gaps, scheduled, strict=True):
        assert planned - 0.05 <= gap <= planned + 0.5, (gaps, scheduled)  # waited as planned, on the broker
    assert gaps[1] > gaps[0], gaps


def test_job_that_always_fails_ends_failed_and_dead_lettered(
    stack: Stack, client: FlaskClient, worker: CeleryWorker
) -> None:
    job_id = submit_sleep(client, seconds=0, fail_times=99)
    job = wait_for_state(client, job_id, "failed", timeout=30)
    assert job["attempts"] == 3  # first try + JOB_MAX_RETRIES=2
    assert job["error"]["type"] == "TransientError"
    assert "gave up after 3 attempts" in job["error"]["message"]
    dead = wait_for_dead_letter(stack, job_id)
    assert dead["headers"]["x-death"][0]["reason"] == "rejected"
    assert dead["headers"]["x-death"][0]["queue"] == "diagnostics"


def _kill_while_running(client: FlaskClient, job_id: str, kill) -> None:
    running = wait_for_job(client, job_id, lambda j: j["state"] == "running" and j["progress"]["done"] >= 1,
                           timeout=20, what="the job to be running")
    kill(running)


def test_whole_worker_killed_job_completes_once_on_a_new_worker(
    stack: Stack, client: FlaskClient, worker: CeleryWorker
) -> None:
    job_id = submit_sleep(client, seconds=3, steps=6)
    _kill_while_running(client, job_id, lambda _job: worker.kill_all())
    assert get_job(client, job_id)["state"] == "running"  # nobody has it now; the broker still holds the message
    stack.start_worker()
    job = wait_for_state(client, job_id, "succeeded", timeout=40)
    assert job["attempts"] == 2
    assert [a["outcome"] for a in job["attempt_history"]] == ["lost", "succeeded"]
    assert job["result"]["attempt"] == 2


def test_pool_child_killed_job_completes_once(stack: Stack, client: FlaskClient, worker: CeleryWorker) -> None:
    job_id = submit_sleep(client, seconds=3, steps=6)
    killed: list[int] = []

    def kill_child(job: dict) -> None:
        pid = running_pid(job)
        assert pid in [child.pid for child in worker.pool_children()]
        psutil.Process(pid).kill()
        killed.append(pid)

    _kill_while_running(client, job_id, kill_child)
    job = wait_for_state(client, job_id, "succeeded", timeout=40)
    assert job["attempts"] == 2
    assert [a["outcome"] for a in job["attempt_history"]] == ["lost", "succeeded"]
    assert running_pid(job) != killed[0]
    assert not worker._died()  # the worker itself survived and replaced its child


def test_crash_loop_is_bounded_and_dead_lettered(stack: Stack, client: FlaskClient, worker: CeleryWorker) -> None:
    job_id = submit_sleep(client, seconds=20, steps=20)
    killed: set[int] = set()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        job = get_job(client, job_id)
        if job["state"] == "failed":
            break
        if job["state"] == "running" and job["attempt_history"]:
            pid = running_pid(job)
            if pid not in killed and job["attempt_history"][-1]["outcome"] == "running":
                with contextlib.suppress(psutil.NoSuchProcess):
                    psutil.Process(pid).kill()
                killed.add(pid)
        time.sleep(0.1)
    job = get_job(client, job_id)
    assert job["state"] == "failed", job
    assert job["error"]["type"] == "WorkerLost"
    assert [a["outcome"] for a in job["attempt_history"]] == ["lost", "lost", "lost"]
    wait_for_dead_letter(stack, job_id)


def test_broker_down_request_is_accepted_fast_and_relay_delivers_later(
    stack: Stack, worker: CeleryWorker
) -> None:
    offline = stack.client(stack.app(broker_url="amqp://guest:guest@127.0.0.1:1//"))
    started = time.monotonic()
    response = offline.post("/api/diagnostics/sleep", json={"seconds": 0})
    elapsed = time.monotonic() - started
    assert response.status_code == 202
    assert elapsed < 1.0, elapsed
    job_id = response.get_json()["id"]
    time.sleep(1)
    assert get_job(offline, job_id)["state"] == "queued"
    assert job_id in unsent_outbox_job_ids(stack)

    relay = stack.process([*FLASK, "jobs", "relay"], "relay").start()
    try:
        job = wait_for_state(offline, job_id, "succeeded", timeout=30)
    finally:
        relay.stop()
    assert job["attempts"] == 1
    assert unsent_outbox_job_ids(stack).count(job_id) == 0


def unsent_outbox_job_ids(stack: Stack) -> list[str]:
    with stack.db.read_session() as session:
        return [str(m.job_id) for m in session.scalars(select(OutboxMessage).where(OutboxMessage.sent_at.is_(None)))]


def test_same_message_delivered_twice_runs_the_job_once(
    stack: Stack, app: Flask, client: FlaskClient, worker: CeleryWorker
) -> None:
    job_id = submit_sleep(client, seconds=1.5, steps=3)
    with stack.db.read_session() as session:
        message = session.scalars(select(OutboxMessage).where(OutboxMessage.job_id == uuid.UUID(job_id))).one()
    publisher = runtime_of(app).publisher
    wait_for_state(client, job_id, "running", timeout=20)
    publisher.publish([message])  # a second copy while the first runs
    job = wait_for_state(client, job_id, "succeeded")
    publisher.publish([message])  # and a third after it finished
    wait_for(lambda: worker.log_text().count(f"job_id={job_id} delivery skipped") == 2, 15,
             what="both duplicates to be consumed")
    job = get_job(client, job_id)
    assert job["attempts"] == 1
    assert [a["outcome"] for a in job["attempt_history"]] == ["succeeded"]
    assert queue_depth(stack.broker_url, "diagnostics") == 0


def test_cancel_queued_job_never_runs(stack: Stack, worker: CeleryWorker) -> None:
    offline = stack.client(stack.app(broker_url="amqp://guest:guest@127.0.0.1:1//"))
    job_id = submit_sleep(offline, seconds=0)
    response = offline.post(f"/api/jobs/{job_id}/cancel")
    assert response.status_code == 202
    assert response.get_json()["state"] == "cancelled"
    relay = stack.process([*FLASK, "jobs", "relay"], "relay").start()
    try:  # the relay still publishes the message; the worker must drop it
        wait_for(lambda: job_id not in unsent_outbox_job_ids(stack), 20, what="the relay to publish")
        wait_for(lambda: f"job_id={job_id} delivery skipped: job already cancelled" in worker.log_text(), 15,
                 what="the worker to drop the cancelled job's message")
    finally:
        relay.stop()
    job = get_job(offline, job_id)
    assert job["state"] == "cancelled" and job["attempts"] == 0 and job["started_at"] is None
    assert offline.post(f"/api/jobs/{job_id}/cancel").status_code == 409


def test_cancel_running_job_stops_at_next_checkpoint(client: FlaskClient, worker: CeleryWorker) -> None:
    job_id = submit_sleep(client, seconds=4, steps=8)
    wait_for_job(client, job_id, lambda j: j["state"] == "running" and j["progress"]["done"] >= 1, 20,
                 what="the job to be running")
    response = client.post(f"/api/jobs/{job_id}/cancel")
    assert response.status_code == 202
    assert response.get_json()["cancel_requested"] is True
    job = wait_for_state(client, job_id, "cancelled", timeout=10)
    assert job["progress"]["done"] < 8
    assert job["progress"]["message"].startswith("cancelled at ")
    assert job["result"] is None
    assert [a["outcome"] for a in job["attempt_history"]] == ["cancelled"]


def test_soft_time_limit_fails_the_job_with_a_readable_error(
    stack: Stack, client: FlaskClient, worker: CeleryWorker
) -> None:
    job_id = submit_sleep(client, seconds=15, steps=1)  # the diagnostics soft limit is 6 s in the tests
    job = wait_for_state(client, job_id, "failed", timeout=30)
    assert job["error"]["type"] == "TimeLimitExceeded"
    assert job["error"]["message"] == "the job took longer than its time limit of 6 s and was stopped"
    wait_for_dead_letter(stack, job_id)


def test_a_job_killed_by_its_hard_time_limit_is_dead_lettered_and_can_be_replayed(
    stack: Stack, client: FlaskClient, worker: CeleryWorker
) -> None:
    # Soft limit 6 s, hard limit 9 s in the tests; the job sleeps on past the soft one, as if stuck in C code.
    job_id = submit_sleep(client, seconds=30, steps=1, ignore_soft_limit=True)
    job = wait_for_state(client, job_id, "failed", timeout=40)
    assert job["error"]["type"] == "TimeLimitExceeded" and "hard time limit of 9 s" in job["error"]["message"]
    # The dead-letter tools see it like any failure: its copy reaches <queue>.dead just after the failure commits.
    replay = wait_for(lambda: (answer := client.post(f"/api/dead-letters/{job_id}/replay")).status_code != 404
                      and answer, 15, what="the job's message in diagnostics.dead")
    assert replay.status_code == 202 and replay.get_json()["messages_removed"] == 1, replay.get_data(as_text=True)
    again = wait_for_job(client, job_id, lambda j: j["attempts"] == 2, 20, what="the replayed attempt")
    assert again["state"] in ("queued", "running") and again["attempt_history"][0]["outcome"] == "failed"
    with stack.db.read_session() as session:
        events = set(session.scalars(select(OutboxMessage.task_name).where(
            OutboxMessage.job_id == uuid.UUID(job_id), OutboxMessage.event.is_not(None))))
    assert {"job.failed", "job.dead_lettered"} <= events
    client.post(f"/api/jobs/{job_id}/cancel")


def test_failed_job_retried_by_a_client_gets_a_new_attempt(client: FlaskClient, worker: CeleryWorker) -> None:
    job_id = submit_sleep(client, seconds=0, fail_times=3)  # fails all 3 automatic attempts
    wait_for_state(client, job_id, "failed", timeout=30)
    response = client.post(f"/api/jobs/{job_id}/retry")
    assert response.status_code == 202
    assert response.headers["Location"] == f"/api/jobs/{job_id}"
    job = wait_for_state(client, job_id, "succeeded", timeout=20)
    assert job["attempts"] == 4
    assert job["result"]["attempt"] == 4
    assert client.post(f"/api/jobs/{job_id}/retry").status_code == 409


def test_worker_that_loses_the_broker_stops_its_copy_and_the_job_completes_once(
    stack: Stack, client: FlaskClient, worker: CeleryWorker
) -> None:
    job_id = submit_sleep(client, seconds=4.5, steps=9)
    wait_for_job(client, job_id, lambda j: j["state"] == "running" and j["progress"]["done"] >= 1, 20,
                 what="the job to be running")
    close_broker_connections(stack.broker_url)
    job = wait_for_state(client, job_id, "succeeded", timeout=60)
    assert [a["outcome"] for a in job["attempt_history"]] == ["lost", "succeeded"]
    # The first copy was cancelled with the connection: it never wrote again after being taken over.
    assert "is no longer current" not in worker.log_text()


def test_database_outage_mid_job_is_waited_out_and_the_attempt_taken_over(
    stack: Stack, client: FlaskClient, worker: CeleryWorker
) -> None:
    if stack.backend != "postgresql":
        pytest.skip("the outage is made by refusing connections to a PostgreSQL database")
    job_id = submit_sleep(client, seconds=3, steps=6)
    wait_for_job(client, job_id, lambda j: j["state"] == "running" and j["progress"]["done"] >= 1, 20,
                 what="the job to be running")
    with postgres_outage(stack.settings.database_url):
        wait_for(lambda: "database unavailable" in worker.log_text(), 15, what="the worker to notice the outage")
        time.sleep(3)  # a few delayed deliveries find the database still down
    job = wait_for_state(client, job_id, "succeeded", timeout=40)
    assert [a["outcome"] for a in job["attempt_history"]] == ["lost", "succeeded"]
    assert job["attempts"] == 2
    assert worker.log_text().count(f"job_id={job_id} database unavailable") >= 2


FLASK = [sys.executable, "-m", "flask", "--app", "webapp:create_app"]
