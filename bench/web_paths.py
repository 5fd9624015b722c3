"""The web's hot paths under wrk: submit (beside bare Celery `delay()`), status (beside a bare Flask
endpoint), and submit -> running latency with idle workers."""
from __future__ import annotations

import http.client
import json
import statistics
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.bare_worker import BARE_QUEUE, make_bare_celery
from bench.http_load import gunicorn, random_get_script, run_wrk, submit_script
from bench.seed import count_jobs, insert_finished_jobs, write_ids_and_etags
from bench.stack import BenchStack
from jobs.models import Job
from tests.support.processes import CeleryWorker, wait_for

SUBMIT_BODY = json.dumps({"seconds": 0.0})


@dataclass
class Figure:
    """One measured path beside its baseline."""

    path: str
    figure: float
    unit: str
    baseline: float | None
    baseline_label: str
    target: str
    notes: str = ""
    p50_ms: float | None = None
    p99_ms: float | None = None

    @property
    def ratio(self) -> float | None:
        return self.figure / self.baseline if self.baseline else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def bare_delay_rate(broker_url: str, seconds: float) -> tuple[float, int]:
    """Bare Celery `delay()` with publisher confirms from one process: (calls/s, calls)."""
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
    return count / elapsed, count


def submit_and_complete(stack: BenchStack, base: str, scratch: Path, seconds: float) -> tuple[Figure, dict[str, int]]:
    """wrk POSTs no-op sleep jobs for `seconds`; then a worker runs them all and they are counted."""
    script = submit_script(scratch / "submit.lua", stack.token, SUBMIT_BODY)
    run_wrk(base + "/api/diagnostics/sleep", script, 2)  # warm-up: connections, pools, code paths
    result = run_wrk(base + "/api/diagnostics/sleep", script, seconds)
    accepted = sum(count_jobs(stack.db, kind="diagnostics.sleep").values())
    worker = CeleryWorker(stack.env, stack.log_dir, queues="diagnostics", concurrency=2).start()
    try:
        wait_for(lambda: set(count_jobs(stack.db, kind="diagnostics.sleep")) == {"succeeded"},
                 max(120.0, accepted / 20), interval=0.5, what="every accepted job to finish")
    finally:
        worker.stop()
    states = count_jobs(stack.db, kind="diagnostics.sleep")  # again: requests in flight when wrk stopped count too
    figure = Figure("1. Submit: POST /api/diagnostics/sleep (0 s), 16 clients", result.rps, "jobs/s", None,
                    "bare Celery delay() with confirms, one process", ">= 1.0x, p99 <= 50 ms",
                    p50_ms=result.p50_ms, p99_ms=result.p99_ms,
                    notes=f"{result.requests} answered in the timed run ({result.non_2xx_3xx} non-2xx, "
                          f"{result.socket_errors} socket errors); {sum(states.values())} jobs accepted in all "
                          f"with the 2 s warm-up, {states.get('succeeded', 0)} of them succeeded")
    return figure, states


def submit_latency(stack: BenchStack, base: str, jobs: int) -> Figure:
    """Submit one job at a time to idle workers; started_at - created_at of each."""
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
    p99 = latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]
    return Figure("5. Latency: submit -> running, idle workers", statistics.median(latencies), "ms p50", None,
                  "", "p50 <= 50 ms", p50_ms=statistics.median(latencies), p99_ms=p99,
                  notes=f"{jobs} jobs submitted one at a time; created_at (request) to started_at (worker)")


def status(stack: BenchStack, base: str, scratch: Path, seconds: float,
           jobs: int) -> list[Figure]:
    """GET /api/jobs/<random id> among `jobs` finished jobs, with and without If-None-Match."""
    insert_finished_jobs(stack.db, jobs, "bench-status")
    ids = write_ids_and_etags(stack.db, "bench-status", scratch / "status-ids.txt")
    plain = random_get_script(scratch / "status.lua", stack.token, "/api/jobs/", ids, with_etag=False)
    cached = random_get_script(scratch / "status-304.lua", stack.token, "/api/jobs/", ids, with_etag=True)
    run_wrk(base + "/", plain, 2)
    ours = run_wrk(base + "/", plain, seconds)
    ours_304 = run_wrk(base + "/", cached, seconds)
    return [
        Figure(f"4. Status: GET /api/jobs/<id>, random among {jobs:,}", ours.rps, "req/s", None,
               "bare Flask JSON endpoint, same gunicorn config", ">= 0.6x, p99 <= 20 ms",
               p50_ms=ours.p50_ms, p99_ms=ours.p99_ms, notes=f"{ours.non_2xx_3xx} non-2xx/3xx"),
        Figure("4. Status with If-None-Match (304)", ours_304.rps, "req/s", None,
               "bare Flask JSON endpoint, same gunicorn config", ">= 0.8x",
               p50_ms=ours_304.p50_ms, p99_ms=ours_304.p99_ms, notes=f"{ours_304.non_2xx_3xx} non-2xx/3xx"),
    ]


def bare_status(env: dict[str, str], log_dir: Path, scratch: Path, seconds: float) -> tuple[float, float, float]:
    """The bare Flask endpoint under the same gunicorn config: (req/s, p50 ms, p99 ms)."""
    ids = scratch / "status-ids.txt"
    script = random_get_script(scratch / "bare.lua", None, "/api/jobs/", ids, with_etag=False)
    with gunicorn(env, "bench.bare_flask:create_bare_app()", log_dir, ready_path="/api/jobs/ready") as bare:
        run_wrk(bare + "/", script, 2)
        result = run_wrk(bare + "/", script, seconds)
    return result.rps, result.p50_ms, result.p99_ms


def run_web_paths(stack: BenchStack, scratch: Path, seconds: float, status_jobs: int,
                  latency_jobs: int) -> list[Figure]:
    """Paths 1, 4 and 5 on one PostgreSQL stack behind gunicorn."""
    baseline_rate, _ = bare_delay_rate(stack.broker_url, 5)
    with gunicorn(stack.env, "webapp:create_app()", stack.log_dir) as base:
        submit, _states = submit_and_complete(stack, base, scratch, seconds)
        submit.baseline = baseline_rate
        latency = submit_latency(stack, base, latency_jobs)
        statuses = status(stack, base, scratch, seconds, status_jobs)
    bare_rps, bare_p50, bare_p99 = bare_status(stack.env, stack.log_dir, scratch, seconds)
    for figure in statuses:
        figure.baseline = bare_rps
        figure.baseline_label += f" (p50 {bare_p50:.1f} ms, p99 {bare_p99:.1f} ms)"
    return [submit, *statuses, latency]
