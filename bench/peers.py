"""The peers' side of the benchmarks: their stored results, their worker's drain, their web views under load.

A peer is plain Celery with a result backend (bench/peer_celery.py): the SQLAlchemy database backend
on the stack's own PostgreSQL database, and the Redis backend on the machine's Redis (a database
number of its own, flushed before and after).
"""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from celery import Celery
from sqlalchemy import text

from bench.http_load import WrkResult, gunicorn, run_wrk
from bench.peer_celery import PEER_QUEUE, make_peer_celery
from bench.stack import BenchStack
from tests.support.processes import ManagedProcess, wait_for

REDIS_URL = "redis://127.0.0.1:6379/11"


@dataclass(frozen=True)
class Peer:
    name: str  # "db" or "redis"
    backend_url: str

    @property
    def label(self) -> str:
        return {"db": "tracked Celery, DB backend", "redis": "tracked Celery, Redis backend"}[self.name]


def peers_of(stack: BenchStack) -> list[Peer]:
    return [Peer("db", "db+" + stack.settings.database_url), Peer("redis", REDIS_URL)]


def _app(stack: BenchStack, peer: Peer) -> Celery:
    return make_peer_celery(stack.broker_url, peer.backend_url)


def flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def seed_results(stack: BenchStack, peer: Peer, tag: str) -> None:
    """A SUCCESS result for every job of `tag`, stored as the peer's backend stores them (same ids as ours)."""
    app = _app(stack, peer)
    if peer.name == "db":
        app.backend.ResultSession().close()  # the backend creates its tables
        with stack.db.transaction() as session:
            session.execute(text("""
                INSERT INTO celery_taskmeta (id, task_id, status, result, date_done, name, args, kwargs, worker,
                                             retries, queue)
                SELECT nextval('task_id_sequence'), id::text, 'SUCCESS', convert_to('{"ok": true}', 'UTF8'), now(),
                       'peer.noop', convert_to('[]', 'UTF8'), convert_to('{}', 'UTF8'), 'bench', 0, 'peer'
                FROM jobs WHERE submitted_by = :tag"""), {"tag": tag})
    else:
        import redis

        with stack.db.read_session() as session:
            ids = [str(row[0]) for row in session.execute(text("SELECT id FROM jobs WHERE submitted_by = :tag"),
                                                            {"tag": tag})]
        client = redis.Redis.from_url(REDIS_URL)
        pipe = client.pipeline(transaction=False)
        for task_id in ids:
            meta = {"status": "SUCCESS", "result": {"ok": True}, "traceback": None, "children": [],
                    "date_done": "2026-12-01T00:00:00", "task_id": task_id, "name": "peer.noop", "args": [],
                    "kwargs": {}, "worker": "bench", "retries": 0, "queue": "peer"}
            pipe.set(app.backend.get_key_for_task(task_id), json.dumps(meta))
        pipe.execute()
    probe = next(iter(_one_id(stack, tag)))
    result = app.AsyncResult(probe)
    assert result.state == "SUCCESS" and result.result == {"ok": True}, (peer, result.state)


def _one_id(stack: BenchStack, tag: str) -> list[str]:
    with stack.db.read_session() as session:
        return [str(session.execute(text("SELECT id FROM jobs WHERE submitted_by = :tag LIMIT 1"),
                                    {"tag": tag}).scalar_one())]


def drain(stack: BenchStack, peer: Peer, backlog: int, concurrency: int, scratch: Path) -> float:
    """A backlog of the peer's no-op task run by `celery worker -c N`, same settings: tasks/s, first to last."""
    marker = scratch / f"peer-{peer.name}-{concurrency}-{time.monotonic_ns()}.txt"
    app = _app(stack, peer)
    task = app.tasks["peer.noop"]
    with app.connection_for_write() as connection:
        PEER_QUEUE(connection.default_channel).declare()
    with app.producer_or_acquire() as producer:
        for index in range(backlog):
            task.apply_async((index, backlog, str(marker)), producer=producer)
    worker = ManagedProcess(
        [sys.executable, "-m", "celery", "-A", "bench.peer_celery", "worker", "-Q", "peer", "-c", str(concurrency),
         "-l", "INFO", "--without-gossip", "--without-mingle", "-n", f"peer-{peer.name}-{time.monotonic_ns()}@%h"],
        {**stack.env, "PEER_BACKEND": peer.backend_url}, stack.log_dir / f"peer-{peer.name}-{concurrency}.log").start()
    try:
        wait_for(lambda: marker.exists() and len(marker.read_text().splitlines()) >= 2, 900, interval=0.2,
                 what=f"the {peer.name} peer's backlog to drain")
    finally:
        worker.stop()
    stamps = [float(line.split()[1]) for line in marker.read_text().splitlines()]
    with app.connection_for_write() as connection:
        PEER_QUEUE(connection.default_channel).purge()
    return backlog / (max(stamps) - min(stamps))


@contextmanager
def peer_web(stack: BenchStack, peer: Peer) -> Iterator[str]:
    """The peer's Flask views under the project's gunicorn config; yields the base URL."""
    app = _app(stack, peer)
    with app.connection_for_write() as connection:
        PEER_QUEUE(connection.default_channel).declare()
    try:
        with gunicorn({**stack.env, "PEER_BACKEND": peer.backend_url}, "bench.peer_flask:create_peer_app()",
                      stack.log_dir, ready_path="/api/ready") as base:
            yield base
    finally:
        with app.connection_for_write() as connection:
            PEER_QUEUE(connection.default_channel).purge()


def load(base: str, path: str, script: Path, seconds: float) -> WrkResult:
    run_wrk(base + path, script, 2)  # warm-up: connections, pools, prepared statements
    return run_wrk(base + path, script, seconds)
