"""The broker's hot paths: the outbox relay (beside raw kombu publishing without confirms) and the
worker drain of a backlog (beside a bare Celery app), with drain growth over 1, 2 and 4 processes."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from kombu import Connection, Producer, Queue
from sqlalchemy import func, select

from bench.bare_worker import BARE_QUEUE, make_bare_celery
from bench.seed import count_jobs, insert_queued_jobs
from bench.stack import BenchStack
from bench.web_paths import Figure
from jobs.celery_app import create_celery, declare_topology
from jobs.models import Job, OutboxMessage
from jobs.publisher import OutboxPublisher
from jobs.relay import OutboxRelay
from tests.support.processes import CeleryWorker, ManagedProcess, wait_for

SCRATCH_QUEUE = "bench.relay-baseline"


def relay_all(stack: BenchStack) -> tuple[int, float]:
    """Run the relay (as `flask jobs relay` builds it) until the outbox is empty: (published, seconds)."""
    celery = create_celery(stack.settings)
    publisher = OutboxPublisher(celery, stack.db, outage_cooldown_s=0)
    relay = OutboxRelay(publisher, batch_size=stack.settings.relay_batch_size, grace_s=0)
    with celery.connection_for_write() as connection:
        declare_topology(connection)
    published, started = 0, time.perf_counter()
    try:
        while sent := relay.run_once():
            published += sent
    finally:
        publisher.close()
    return published, time.perf_counter() - started


def raw_publish_rate(stack: BenchStack, count: int) -> float:
    """The same Celery messages as the relay's, published by kombu without confirms to a scratch quorum queue."""
    celery = create_celery(stack.settings)
    with stack.db.read_session() as session:
        rows = session.execute(select(OutboxMessage.job_id, OutboxMessage.task_name).limit(count)).all()
    messages = [celery.amqp.as_task_v2(str(job_id), name, args=[str(job_id)]) for job_id, name in rows]
    with Connection(stack.broker_url) as connection:
        queue = Queue(SCRATCH_QUEUE, durable=True, queue_arguments={"x-queue-type": "quorum"})
        queue(connection.default_channel).declare()
        producer = Producer(connection.default_channel, serializer="json", auto_declare=False)
        started = time.perf_counter()
        for headers, properties, body, _sent_event in messages:
            producer.publish(body, routing_key=SCRATCH_QUEUE, headers=headers, delivery_mode=2, **properties)
        elapsed = time.perf_counter() - started
        queue(connection.default_channel).delete()
    return len(messages) / elapsed


def relay(stack: BenchStack, rows: int) -> Figure:
    """Path 2: `rows` outbox messages waiting, published by the relay with confirms."""
    insert_queued_jobs(stack.db, rows, f"bench-relay-{time.monotonic_ns()}")
    baseline = raw_publish_rate(stack, rows)
    published, seconds = relay_all(stack)
    assert published == rows, (published, rows)
    purge(stack, "diagnostics")
    return Figure(f"2. Relay: {rows:,} waiting outbox rows published with confirms", published / seconds, "msgs/s",
                  baseline, "raw kombu publish of the same messages, no confirms", ">= 0.5x",
                  notes=f"{published:,} in {seconds:.1f} s, batches of {stack.settings.relay_batch_size}")


def purge(stack: BenchStack, queue: str) -> None:
    with Connection(stack.broker_url) as connection:
        connection.default_channel.queue_purge(queue)


def drain_ours(stack: BenchStack, backlog: int, concurrency: int) -> tuple[float, float]:
    """A backlog of tracked noop jobs run by one worker with `concurrency` processes: (jobs/s, seconds)."""
    tag = f"bench-drain-{concurrency}-{backlog}-{time.monotonic_ns()}"
    insert_queued_jobs(stack.db, backlog, tag)
    relay_all(stack)
    worker = CeleryWorker(stack.env, stack.log_dir, queues="diagnostics", concurrency=concurrency).start()
    try:
        wait_for(lambda: count_jobs(stack.db, tag=tag).get("succeeded", 0) >= backlog, 600, interval=0.5,
                 what=f"a backlog of {backlog} to drain")
    finally:
        worker.stop()
    with stack.db.read_session() as session:
        first, last = session.execute(select(func.min(Job.started_at), func.max(Job.finished_at))
                                      .where(Job.submitted_by == tag)).one()
    seconds = (last - first).total_seconds()
    return backlog / seconds, seconds


def drain_bare(stack: BenchStack, backlog: int, concurrency: int, scratch: Path) -> tuple[float, float]:
    """The same backlog for a bare Celery no-op task, same worker settings: (tasks/s, seconds)."""
    marker = scratch / f"bare-{concurrency}-{time.monotonic_ns()}.txt"
    app = make_bare_celery(stack.broker_url)
    task = app.tasks["bare.noop"]
    with app.connection_for_write() as connection:
        BARE_QUEUE(connection.default_channel).declare()
    with app.producer_or_acquire() as producer:
        for index in range(backlog):
            task.apply_async((index, backlog, str(marker)), producer=producer)
    worker = ManagedProcess(
        [sys.executable, "-m", "celery", "-A", "bench.bare_worker", "worker", "-Q", "bare", "-c", str(concurrency),
         "-l", "WARNING", "--without-gossip", "--without-mingle", "-n", f"bare-{concurrency}@%h"],
        stack.env, stack.log_dir / f"bare-worker-{concurrency}.log").start()
    try:
        wait_for(lambda: marker.exists() and len(marker.read_text().splitlines()) >= 2, 120, interval=0.2,
                 what="the bare backlog to drain")
    finally:
        worker.stop()
    stamps = [float(line.split()[1]) for line in marker.read_text().splitlines()]
    with app.connection_for_write() as connection:
        BARE_QUEUE(connection.default_channel).purge()
    seconds = max(stamps) - min(stamps)
    return backlog / seconds, seconds


def drain(stack: BenchStack, scratch: Path, backlog: int, growth_backlog: int) -> tuple[Figure, list[dict[str, float]]]:
    """Path 3 (concurrency 2, `backlog` jobs) and drain growth at 1, 2 and 4 processes."""
    growth = []
    main: Figure | None = None
    for concurrency in (1, 2, 4):
        size = backlog if concurrency == 2 else growth_backlog
        ours, ours_s = drain_ours(stack, size, concurrency)
        bare, bare_s = drain_bare(stack, size, concurrency, scratch)
        print(f"drain c={concurrency} backlog={size}: ours {ours:.1f}/s ({ours_s:.1f} s), bare {bare:.1f}/s",
              flush=True)
        growth.append({"processes": concurrency, "backlog": size, "ours": ours, "bare": bare})
        if concurrency == 2:
            main = Figure(f"3. Drain: {size:,} tracked no-op jobs, prefork -c 2, prefetch 1, late ack", ours, "jobs/s",
                          bare, "bare Celery no-op task, same worker settings", ">= 0.7x",
                          notes=f"ours {ours_s:.1f} s, bare {bare_s:.1f} s, first start to last finish")
    assert main is not None
    return main, growth
