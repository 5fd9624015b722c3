"""One hot path of a source tree, run in this process, with its cost and what it sent to the database.

Run by bench/run_all.py as `python bench/count_run.py <tree> <path> <out.json> [<profile.txt>]`, with a
bench stack's environment; `<tree>` is a checkout of the project (this one, or an earlier revision
for the "before" figures), put first on sys.path, so the code measured is the tree's own. The paths
use entry points every revision has (the Flask app and its test client, the worker's registered
tasks, the outbox relay), so one script measures both.

Counted per call (a request, a job, or an outbox message for the relay), at the psycopg level, so
SQLAlchemy's statements and psycopg-direct ones alike: statements sent (each execute or
executemany), and commits: explicit COMMITs plus write statements sent in autocommit (each is a
transaction of its own). Reads in autocommit are not commits.
"""
from __future__ import annotations

import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

CALLS = 300
INVOICES = 100
PROFILED = 100  # calls run again under the profiler (after the timed ones)
WRITE_PREFIXES = ("INSERT", "UPDATE", "DELETE", "WITH")

counts = {"statements": 0, "commits": 0}


def install_counters() -> None:
    import psycopg

    execute, executemany, commit = psycopg.Cursor.execute, psycopg.Cursor.executemany, psycopg.Connection.commit

    def counted_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        counts["statements"] += 1
        text = query if isinstance(query, str) else str(query)
        if self.connection.autocommit and text.lstrip().upper().startswith(WRITE_PREFIXES):
            counts["commits"] += 1
        return execute(self, query, *args, **kwargs)

    def counted_executemany(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        counts["statements"] += 1
        return executemany(self, query, *args, **kwargs)

    def counted_commit(self: Any) -> Any:
        counts["commits"] += 1
        return commit(self)

    psycopg.Cursor.execute = counted_execute  # type: ignore[method-assign]  # measurement only
    psycopg.Cursor.executemany = counted_executemany  # type: ignore[method-assign]  # measurement only
    psycopg.Connection.commit = counted_commit  # type: ignore[method-assign]  # measurement only


def web_client() -> Any:
    from config.settings import get_settings
    from tests.support.accounts import token_client
    from webapp import create_app

    return token_client(create_app(get_settings()), os.environ["BENCH_TOKEN"])


def worker_task(name: str) -> Any:
    from tasks.worker import app

    if hasattr(app.loader, "import_default_modules"):
        app.loader.import_default_modules()  # earlier trees registered tasks from app.conf.imports
    return app.tasks[name]


def queued_job_ids(kind: str, params: dict[str, Any], count: int) -> list[str]:
    from config.settings import get_settings
    from jobs.db import Database
    from jobs.enqueue import submit_job

    db = Database(get_settings().resolved_database_url)
    ids = []
    with db.transaction() as session:
        for _ in range(count):
            job, _message = submit_job(session, kind, params)
            ids.append(str(job.id))
    db.dispose()
    return ids


def path_submit(run: Any) -> None:
    client = web_client()
    client.post("/api/diagnostics/sleep", json={"seconds": 0.0})
    run(lambda: client.post("/api/diagnostics/sleep", json={"seconds": 0.0}).status_code == 202)


def status_ids() -> list[str]:
    return [line.split()[0] for line in Path(os.environ["BENCH_IDS"]).read_text().splitlines()]


def path_status(run: Any) -> None:
    client = web_client()
    ids = iter(status_ids())
    run(lambda: client.get(f"/api/jobs/{next(ids)}").status_code == 200)


def path_status304(run: Any) -> None:
    client = web_client()
    lines = iter(Path(os.environ["BENCH_IDS"]).read_text().splitlines())

    def one() -> bool:
        job_id, etag = next(lines).split()
        return client.get(f"/api/jobs/{job_id}", headers={"If-None-Match": f'"{etag}"'}).status_code == 304

    run(one)


def run_jobs(run: Any, task: Any, ids: Any, warm_up: int, **options: Any) -> None:
    """Run `warm_up` of the queued jobs `ids` unmeasured, then the rest one call each, as the worker does."""
    def one() -> bool:
        job_id = next(ids)
        task.apply(args=[job_id], task_id=job_id, throw=True)
        return True

    for _ in range(warm_up):
        one()
    run(one, **options)


def path_drain(run: Any) -> None:
    run_jobs(run, worker_task("diagnostics.noop"), iter(queued_job_ids("diagnostics.noop", {}, CALLS + PROFILED + 20)),
             20)


def path_invoice(run: Any) -> None:
    from bench.invoice_bench import BODY

    client = web_client()
    ids = iter([client.post("/api/invoices", json=BODY).get_json()["id"] for _ in range(INVOICES + PROFILED + 10)])
    run_jobs(run, worker_task("invoice.create"), ids, 10, calls=INVOICES)


def path_relay(run: Any) -> None:
    from celery import Celery

    from config.settings import get_settings
    from jobs.celery_app import create_celery, declare_topology
    from jobs.db import Database
    try:
        from jobs.publisher import OutboxPublisher
        from jobs.relay import OutboxRelay
    except ImportError:  # an earlier tree: one module
        from jobs.outbox import OutboxPublisher, OutboxRelay  # type: ignore[no-redef]

    settings = get_settings()
    db = Database(settings.resolved_database_url)
    celery: Celery = create_celery(settings)
    with celery.connection_for_write() as connection:
        declare_topology(connection)
    queued_job_ids("diagnostics.noop", {}, 2000)
    publisher = OutboxPublisher(celery, db, outage_cooldown_s=0)
    relay = OutboxRelay(publisher, batch_size=settings.relay_batch_size, grace_s=0)
    sent = [0]

    def all_of_it() -> bool:
        while batch := relay.run_once():
            sent[0] += batch
        return True

    run(all_of_it, calls=1, per=lambda: sent[0])
    publisher.close()


PATHS = {"submit": path_submit, "status": path_status, "status304": path_status304, "drain": path_drain,
         "invoice": path_invoice, "relay": path_relay}


def main() -> None:
    tree, path, out = Path(sys.argv[1]).resolve(), sys.argv[2], Path(sys.argv[3])
    profile_out = Path(sys.argv[4]) if len(sys.argv) > 4 else None
    sys.path[:0] = [str(tree)]
    os.chdir(tree)
    install_counters()
    import logging

    logging.disable(logging.INFO)
    measured: dict[str, Any] = {}

    def run(one: Any, calls: int = CALLS, per: Any = None) -> None:
        from pyinstrument import Profiler

        before = dict(counts)
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            assert one()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        n = per() if per else calls
        measured.update(calls=n, ms=1000 * wall / n, cpu_ms=1000 * cpu / n,
                        statements=(counts["statements"] - before["statements"]) / n,
                        commits=(counts["commits"] - before["commits"]) / n)
        if profile_out is not None and per is None:
            profiler = Profiler(interval=0.0005)
            with profiler:
                for _ in range(min(PROFILED, calls)):
                    one()
            profile_out.write_text(profiler.output_text(unicode=False, color=False, show_all=False))

    PATHS[path](run)
    out.write_text(json.dumps({"path": path, "tree": str(tree), "run": uuid.uuid4().hex, **measured}))


if __name__ == "__main__":
    main()
