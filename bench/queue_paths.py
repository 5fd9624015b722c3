"""The broker's hot paths: the outbox relay (beside raw kombu publishing without confirms) and the
worker drain of a backlog (beside the peers' tracked Celery and a bare Celery app), repeated, with
drain growth over 1, 2 and 4 processes."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from kombu import Connection, Producer, Queue
from sqlalchemy import func, select

from bench.bare_worker import BARE_QUEUE, make_bare_celery
from bench.compare import Comparison
from bench.peers import drain as drain_peer
from bench.peers import peers_of
from bench.seed import count_jobs, insert_queued_jobs
from bench.stack import BenchStack
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
        rows = session.execute(select(OutboxMessage.job_id, OutboxMessage.task_name)
                               .where(OutboxMessage.sent_at.is_(None)).limit(count)).all()
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


def purge(stack: BenchStack, queue: str) -> None:
    with Connection(stack.broker_url) as connection:
        connection.default_channel.queue_purge(queue)


def relay(stack: BenchStack, rows: int, repetitions: int) -> Comparison:
    """`rows` outbox messages waiting (as after a broker outage), published by the relay with confirms."""
    row = Comparison("relay", f"Relay: {rows:,} waiting outbox rows published with confirms", "msgs/s", bare_target=0.5,
                     bare_label="raw kombu publish of the same messages, no confirms",
                     notes=f"batches of {stack.settings.relay_batch_size}")
    for _ in range(repetitions):
        insert_queued_jobs(stack.db, rows, f"bench-relay-{time.monotonic_ns()}")
        row.add("bare", raw_publish_rate(stack, rows))
        published, seconds = relay_all(stack)
        assert published == rows, (published, rows)
        row.add("ours", published / seconds)
        purge(stack, "diagnostics")
    return row


def drain_ours(stack: BenchStack, backlog: int, concurrency: int, **env: str) -> float:
    """A backlog of tracked no-op jobs run by one worker with `concurrency` processes: jobs/s, first start
    to last finish."""
    tag = f"bench-drain-{concurrency}-{backlog}-{time.monotonic_ns()}"
    insert_queued_jobs(stack.db, backlog, tag)
    relay_all(stack)
    worker = CeleryWorker({**stack.env, **env}, stack.log_dir, queues="diagnostics", concurrency=concurrency).start()
    try:
        wait_for(lambda: count_jobs(stack.db, tag=tag).get("succeeded", 0) >= backlog, 900, interval=0.5,
                 what=f"a backlog of {backlog} to drain")
    finally:
        worker.stop()
    with stack.db.read_session() as session:
        first, last = session.execute(select(func.min(Job.started_at), func.max(Job.finished_at))
                                      .where(Job.submitted_by == tag)).one()
    return backlog / (last - first).total_seconds()


def drain_bare(stack: BenchStack, backlog: int, concurrency: int, scratch: Path) -> float:
    """The same backlog for a bare Celery no-op task, same worker settings: tasks/s."""
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
         "-l", "INFO", "--without-gossip", "--without-mingle", "-n", f"bare-{concurrency}@%h"],
        stack.env, stack.log_dir / f"bare-worker-{concurrency}.log").start()
    try:
        wait_for(lambda: marker.exists() and len(marker.read_text().splitlines()) >= 2, 300, interval=0.2,
                 what="the bare backlog to drain")
    finally:
        worker.stop()
    stamps = [float(line.split()[1]) for line in marker.read_text().splitlines()]
    with app.connection_for_write() as connection:
        BARE_QUEUE(connection.default_channel).purge()
    return backlog / (max(stamps) - min(stamps))


def drain(stack: BenchStack, scratch: Path, backlog: int, peer_backlog: int, growth_backlog: int,
          repetitions: int) -> tuple[list[Comparison], list[dict[str, float]]]:
    """The drain at 2 processes beside every peer, repeated; with task events on (as when Flower watches);
    and the growth over 1, 2 and 4 processes."""
    main = Comparison("drain", f"Drain: {backlog:,} tracked no-op jobs, prefork -c 2, prefetch 1, late ack", "jobs/s",
                      peer_target=1.0, bare_target=0.5, bare_label="bare Celery no-op task, same worker settings",
                      notes=f"the peers drain {peer_backlog:,} (the DB-backend peer runs at a fraction of the others); "
                            "all sides log at INFO, no task events")
    watched = Comparison("drain_events", "Drain with task events on (as when Flower watches), -c 2", "jobs/s",
                         bare_label="the same bare drain", notes="WORKER_TASK_EVENTS=true on ours")
    peers = peers_of(stack)
    for _ in range(repetitions):
        main.add("ours", drain_ours(stack, backlog, 2))
        for peer in peers:
            main.add(f"peer_{peer.name}", drain_peer(stack, peer, peer_backlog, 2, scratch))
        bare = drain_bare(stack, backlog, 2, scratch)
        main.add("bare", bare)
    watched.add("ours", drain_ours(stack, backlog, 2, WORKER_TASK_EVENTS="true"))
    watched.add("bare", main.median("bare") or 0.0)
    growth = []
    for concurrency in (1, 2, 4):
        growth.append({"processes": concurrency, "backlog": growth_backlog,
                       "ours": drain_ours(stack, growth_backlog, concurrency),
                       "peer_db": drain_peer(stack, peers[0], growth_backlog, concurrency, scratch),
                       "bare": drain_bare(stack, growth_backlog, concurrency, scratch)})
        print(growth[-1], flush=True)
    return [main, watched], growth
