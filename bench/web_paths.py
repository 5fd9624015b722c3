"""The web's hot paths under wrk, beside the peers' views and the bare limits, repeated: submit, status
(full and 304), and submit -> running latency with idle workers."""
from __future__ import annotations

import http.client
import json
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.bare_worker import BARE_QUEUE, make_bare_celery
from bench.compare import Comparison
from bench.http_load import gunicorn, random_get_script, submit_script
from bench.peers import load, peer_web, peers_of, seed_results
from bench.seed import count_jobs, insert_finished_jobs, write_ids_and_etags
from bench.stack import BenchStack
from jobs.models import Job
from tests.support.processes import CeleryWorker, wait_for

SUBMIT_BODY = json.dumps({"seconds": 0.0})
STATUS_TAG = "bench-status"


def bare_delay_rate(broker_url: str, seconds: float) -> float:
    """Bare Celery `delay()` with publisher confirms from one process, no web server: calls/s."""
    app = make_bare_celery(broker_url)
    task = app.tasks["bare.noop"]
    with app.connection_for_write() as connection:
        BARE_QUEUE(connection.default_channel).declare()
    task.delay()  # connects
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        task.delay()
        count += 1
    elapsed = time.perf_counter() - started
    with app.connection_for_write() as connection:
        BARE_QUEUE(connection.default_channel).purge()
    return count / elapsed


def submit_latency(stack: BenchStack, base: str, jobs: int) -> dict[str, float]:
    """Submit one job at a time to idle workers: created_at (the request) to started_at (the worker), in ms."""
    host, port = base.removeprefix("http://").split(":")
    worker = CeleryWorker(stack.env, stack.log_dir, queues="diagnostics", concurrency=2).start()
    ids = []
    try:
        time.sleep(1.0)
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        headers = {"Authorization": f"Bearer {stack.token}", "Content-Type": "application/json"}
        for _ in range(jobs):
            connection.request("POST", "/api/diagnostics/sleep", SUBMIT_BODY, headers)
            response = connection.getresponse()
            body = json.loads(response.read())
            assert response.status == 202, body
            ids.append(body["id"])
            time.sleep(0.05)  # the workers are idle again before the next job
        connection.close()
        wanted = {uuid.UUID(i) for i in ids}

        def finished() -> list[Any] | None:
            with stack.db.read_session() as session:
                rows = session.execute(select(Job.created_at, Job.started_at, Job.finished_at)
                                       .where(Job.id.in_(wanted))).all()
            return rows if len(rows) == len(wanted) and all(r.finished_at for r in rows) else None
        rows = wait_for(finished, 60, interval=0.3, what="the latency jobs")
    finally:
        worker.stop()
    latencies = sorted((r.started_at - r.created_at).total_seconds() * 1000 for r in rows)  # type: ignore[union-attr]
    return {"jobs": jobs, "p50_ms": statistics.median(latencies),
            "p99_ms": latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]}


def run_web_paths(stack: BenchStack, scratch: Path, seconds: float, status_jobs: int, latency_jobs: int,
                  repetitions: int) -> tuple[list[Comparison], dict[str, Any]]:
    """Submit, status and 304 on one PostgreSQL stack, each side under the same gunicorn config."""
    insert_finished_jobs(stack.db, status_jobs, STATUS_TAG)
    ids = write_ids_and_etags(stack.db, STATUS_TAG, scratch / "status-ids.txt")
    peers = peers_of(stack)
    for peer in peers:
        seed_results(stack, peer, STATUS_TAG)
    status_script = random_get_script(scratch / "status.lua", stack.token, "/api/jobs/", ids, with_etag=False)
    cached_script = random_get_script(scratch / "status-304.lua", stack.token, "/api/jobs/", ids, with_etag=True)
    anonymous = random_get_script(scratch / "status-anonymous.lua", None, "/api/jobs/", ids, with_etag=False)
    submit = submit_script(scratch / "submit.lua", stack.token, SUBMIT_BODY)
    status = Comparison("status", f"Status: GET /api/jobs/<id>, random among {status_jobs:,}, 16 clients", "req/s",
                        peer_target=1.0, bare_target=0.5, p99_target_ms=20.0,
                        bare_label="Flask JSON of the job's size, no database, no auth")
    cached = Comparison("status304", "Status with If-None-Match (304), 16 clients", "req/s", bare_target=0.7,
                        bare_label="the bare JSON endpoint", notes="the peers' views have no ETag")
    submits = Comparison("submit", "Submit: POST, 16 clients", "req/s", peer_target=1.0, p99_target_ms=50.0,
                         bare_label="bare Celery delay() with confirms, one process, no web server")
    with gunicorn(stack.env, "webapp:create_app()", stack.log_dir) as base:
        latency = submit_latency(stack, base, latency_jobs)  # first: no backlog in the queue yet
    for _ in range(repetitions):
        with gunicorn(stack.env, "webapp:create_app()", stack.log_dir) as base:
            result = load(base, "/", status_script, seconds)
            status.add("ours", result.rps, result.p99_ms)
            result = load(base, "/", cached_script, seconds)
            cached.add("ours", result.rps, result.p99_ms)
            result = load(base, "/api/diagnostics/sleep", submit, seconds)
            submits.add("ours", result.rps, result.p99_ms)
        for peer in peers:
            with peer_web(stack, peer) as base:
                result = load(base, "/", anonymous, seconds)
                status.add(f"peer_{peer.name}", result.rps, result.p99_ms)
                result = load(base, "/api/jobs", submit, seconds)
                submits.add(f"peer_{peer.name}", result.rps, result.p99_ms)
        with gunicorn(stack.env, "bench.bare_flask:create_bare_app()", stack.log_dir,
                      ready_path="/api/jobs/ready") as base:
            result = load(base, "/", anonymous, seconds)
            status.add("bare", result.rps, result.p99_ms)
            cached.add("bare", result.rps, result.p99_ms)
        submits.add("bare", bare_delay_rate(stack.broker_url, seconds / 2))
    accepted = sum(count_jobs(stack.db, kind="diagnostics.sleep").values())
    worker = CeleryWorker(stack.env, stack.log_dir, queues="diagnostics", concurrency=2).start()
    try:
        wait_for(lambda: set(count_jobs(stack.db, kind="diagnostics.sleep")) == {"succeeded"},
                 max(120.0, accepted / 20), interval=0.5, what="every accepted job to finish")
    finally:
        worker.stop()
    submits.notes = f"every one of the {accepted:,} jobs accepted (warm-ups included) ran and succeeded"
    return [submits, status, cached], latency
