"""pyinstrument profiles of the hot paths' own code, run in-process on a bench stack's environment.

Run by bench/run_all.py as `python -m bench.profile_paths <path> <out.txt>` with the stack's
environment (DATABASE_URL, BROKER_URL, ...), so settings, the app and the worker code see that stack.
- submit: POST /api/diagnostics/sleep through the Flask app (no gunicorn), publish included.
- status: GET /api/jobs/<id> through the Flask app, on jobs the benchmark wrote.
- drain: the worker's task body (JobTask.run_job for diagnostics.noop) on queued jobs, no broker fetch.
- relay: OutboxRelay.run_once over waiting outbox rows.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from pyinstrument import Profiler

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.seed import insert_queued_jobs
from config.settings import get_settings
from jobs.db import Database
from tests.support.accounts import token_client

REQUESTS = 400


def profile_submit(profiler: Profiler) -> None:
    from webapp import create_app
    client = token_client(create_app(get_settings()), os.environ["BENCH_TOKEN"])
    body = {"seconds": 0.0}
    client.post("/api/diagnostics/sleep", json=body)
    with profiler:
        for _ in range(REQUESTS):
            assert client.post("/api/diagnostics/sleep", json=body).status_code == 202


def profile_status(profiler: Profiler) -> None:
    from webapp import create_app
    client = token_client(create_app(get_settings()), os.environ["BENCH_TOKEN"])
    ids = [line.split()[0] for line in Path(os.environ["BENCH_IDS"]).read_text().splitlines()[:REQUESTS]]
    client.get(f"/api/jobs/{ids[0]}")
    with profiler:
        for job_id in ids:
            assert client.get(f"/api/jobs/{job_id}").status_code == 200


def profile_drain(profiler: Profiler) -> None:
    from sqlalchemy import select

    from jobs.models import Job
    from tasks.worker import app  # the worker's Celery app and its task registry
    noop = app.tasks["diagnostics.noop"]
    db = Database(get_settings().resolved_database_url)
    tag = f"bench-profile-drain-{os.getpid()}"
    insert_queued_jobs(db, REQUESTS, tag)
    with db.read_session() as session:
        ids = [str(i) for i in session.scalars(select(Job.id).where(Job.submitted_by == tag))]
    with profiler:
        for job_id in ids:
            noop.apply(args=[job_id], task_id=job_id, throw=True)


def profile_relay(profiler: Profiler) -> None:
    from jobs.celery_app import create_celery
    from jobs.publisher import OutboxPublisher
    from jobs.relay import OutboxRelay
    settings = get_settings()
    db = Database(settings.resolved_database_url)
    insert_queued_jobs(db, 2000, f"bench-profile-relay-{os.getpid()}")
    publisher = OutboxPublisher(create_celery(settings), db, outage_cooldown_s=0)
    relay = OutboxRelay(publisher, batch_size=settings.relay_batch_size, grace_s=0)
    with profiler:
        while relay.run_once():
            pass
    publisher.close()


PATHS = {"submit": profile_submit, "status": profile_status, "drain": profile_drain, "relay": profile_relay}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", choices=sorted(PATHS))
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    profiler = Profiler(interval=0.0005)
    PATHS[args.path](profiler)
    session = profiler.last_session
    assert session is not None
    args.out.write_text(profiler.output_text(unicode=False, color=False, show_all=False, short_mode=False))
    args.out.with_suffix(".json").write_text(json.dumps({"duration_s": session.duration, "calls": REQUESTS}))


if __name__ == "__main__":
    main()
