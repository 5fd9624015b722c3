"""The faults the application promises to survive, each applied and undone with real signals and commands.

A scenario's `act` runs while the workload is under way: it waits for the moment its fault is
about, applies it (os.kill, rabbitmqctl, pg_ctl, the SMTP sink's answers, a full tmpfs), undoes it,
and records what it saw beyond the checker's rules (`Trial.expect`).
"""
from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil
import psycopg
from kombu import Connection, Exchange, Producer

from config.settings import load_settings
from faults.trial import Trial
from faults.workload import Answer, Mix, invoice_body, send
from jobs.celery_app import create_celery
from jobs.db import Database
from jobs.models import OutboxRow
from jobs.publisher import OutboxPublisher

Act = Callable[[Trial], None]


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    act: Act
    mix: Mix = field(default_factory=Mix)
    ci_mix: Mix | None = None  # a shorter workload for the CI profile
    # Failure reasons ("<kind>: <type>: …" prefixes) this fault may cause; any other failed job fails the scenario.
    may_fail: tuple[str, ...] = ()


def _node(trial: Trial, worker: str) -> str:
    return trial.suite.stack.workers[worker].node.split("@")[0]


def _running_on(trial: Trial, worker: str, queue: str) -> list[tuple[str, int]]:
    """(job id, pid) of attempts running on `worker` now."""
    node = _node(trial, worker)
    return [(job, int(where.rpartition("pid=")[2])) for job, where in trial.suite.running_attempts(queue)
            if where.startswith(node) and where.rpartition("pid=")[2].isdigit()]


def _import_running(trial: Trial) -> bool:
    """The workload's import is running and has committed at least one chunk."""
    rows = trial.suite.rows("SELECT count(*) FROM jobs WHERE kind = 'etl.import' AND state = 'running' "
                            "AND progress_done > 0 AND created_at >= to_timestamp(%s)", trial.started_at)
    return bool(rows and rows[0][0])


WORKER_QUEUES = (("etl", "etl"), ("invoices", "invoices"), ("default", "diagnostics"))


def _wait_for_job_on(trial: Trial, worker: str, queue: str) -> list[tuple[str, int]]:
    """The attempts running on `worker` once there is one (the import past its first chunk, for etl)."""
    if worker == "etl":
        trial.wait_until(lambda: _import_running(trial), 60, "the import to be under way")
    found: list[tuple[str, int]] = []

    def running() -> bool:
        found[:] = _running_on(trial, worker, queue)
        return bool(found)
    trial.wait_until(running, 30, f"a job on worker-{worker}")
    return found


def kill_worker_mains(trial: Trial) -> None:
    stack = trial.suite.stack
    with trial.faulted():
        for worker, queue in WORKER_QUEUES:
            _wait_for_job_on(trial, worker, queue)
            pid = stack.kill_worker_main(worker)
            trial.note(f"worker-{worker} main pid {pid} SIGKILLed mid-job")
            time.sleep(2)
            stack.start_worker(worker)


def kill_pool_children(trial: Trial) -> None:
    with trial.faulted():
        for worker, queue in WORKER_QUEUES:
            found = _wait_for_job_on(trial, worker, queue)
            children = {child.pid for child in trial.suite.stack.workers[worker].pool_children()}
            for job, pid in found[:1]:
                if pid in children:
                    os.kill(pid, signal.SIGKILL)
                    trial.note(f"worker-{worker} pool child pid {pid} SIGKILLed running job {job[:8]}")
            time.sleep(2)


def term_during_import(trial: Trial) -> None:
    stack = trial.suite.stack
    trial.wait_until(lambda: _import_running(trial), 90, "the import to be under way")
    with trial.faulted():
        worker = stack.workers["etl"]
        os.kill(worker.pid, signal.SIGTERM)
        assert worker.process is not None
        worker.process.wait(timeout=300)
        trial.note(f"worker-etl pid {worker.pid} SIGTERMed mid-import; it exited {worker.process.returncode}")
        stack.start_worker("etl")
    rows = trial.suite.rows("SELECT worker_lost, state FROM jobs WHERE kind = 'etl.import' "
                            "AND created_at >= to_timestamp(%s)", trial.started_at)
    trial.expect(bool(rows) and all(lost == 0 for lost, _state in rows),
                 f"a SIGTERM counted as a lost worker: worker_lost {[r[0] for r in rows]}")


def broker_stop_start(trial: Trial) -> None:
    time.sleep(8)
    with trial.faulted():
        trial.suite.rabbit.ctl("stop_app")
        time.sleep(10)
        trial.suite.rabbit.ctl("start_app")
        trial.suite.rabbit.ctl("await_startup")


def broker_close_connections(trial: Trial) -> None:
    time.sleep(5)
    with trial.faulted():
        for _ in range(2):
            trial.suite.rabbit.ctl("close_all_connections", "closed by the fault suite")
            time.sleep(5)


def _answered_during(trial: Trial) -> None:
    window = [a for a in trial.workload.answers
              if trial.fault_at is not None and trial.undone_at is not None
              and trial.fault_at <= a.sent_at <= trial.undone_at]
    slow = [a for a in window if a.status is None]
    trial.note(f"{len(window)} submits while publishers were blocked, slowest answer "
               f"{max((a.elapsed_s for a in window), default=0):.2f} s")
    trial.expect(bool(window) and not slow, f"{len(slow)} submits got no answer while publishers were blocked")


def _alarms(trial: Trial) -> str:
    return trial.suite.rabbit.ctl("eval", "rabbit_alarm:get_alarms().", check=False).strip()


# alarm -> (the rabbitmqctl command that raises it, the one that clears it)
ALARMS = {"memory": (("set_vm_memory_high_watermark", "absolute", "1MB"), ("set_vm_memory_high_watermark", "0.4")),
          "disk": (("set_disk_free_limit", "100000GB"), ("set_disk_free_limit", "50MB"))}


def raise_alarm(trial: Trial, alarm: str) -> None:
    trial.suite.rabbit.ctl(*ALARMS[alarm][0])
    trial.wait_until(lambda: alarm in _alarms(trial), 60, f"the {alarm} alarm")


def clear_alarm(trial: Trial, alarm: str) -> None:
    trial.suite.rabbit.ctl(*ALARMS[alarm][1])
    trial.wait_until(lambda: alarm not in _alarms(trial), 60, f"the {alarm} alarm to clear")


def broker_alarm(alarm: str) -> Act:
    def act(trial: Trial) -> None:
        time.sleep(5)
        with trial.faulted():
            raise_alarm(trial, alarm)
            time.sleep(10)
            clear_alarm(trial, alarm)
        _answered_during(trial)
    return act


def kill_web(trial: Trial) -> None:
    stack = trial.suite.stack
    time.sleep(4)
    with trial.faulted():
        # Publishes held by a memory alarm: the web's jobs are committed and not yet published when it dies.
        raise_alarm(trial, "memory")
        time.sleep(3)
        unsent = trial.suite.rows("SELECT count(*) FROM outbox_messages WHERE sent_at IS NULL")[0][0]
        assert stack.web is not None
        stack.web.kill_all()
        trial.note(f"gunicorn SIGKILLed with {unsent} committed jobs not yet published")
        clear_alarm(trial, "memory")
        stack.start_web()
        time.sleep(5)
        stack.web.kill_all()  # and once more in the middle of ordinary submits
        trial.note("gunicorn SIGKILLed again under ordinary load")
        time.sleep(1)
        stack.start_web()


WAITING_IN = ("SELECT query FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid() "
              "AND query LIKE 'UPDATE outbox_messages SET %%'")


def kill_relay_after_confirm(trial: Trial) -> None:
    """The relay is held between the broker's confirm and its mark-sent UPDATE (a SHARE lock on the outbox
    table lets its SELECT … FOR UPDATE through and blocks the UPDATE), then SIGKILLed there."""
    suite = trial.suite
    stack, rabbit = suite.stack, suite.rabbit
    time.sleep(4)
    with trial.faulted():
        rabbit.ctl("stop_app")  # the fast path fails: what is submitted now is the relay's
        time.sleep(5)
        backlog = suite.rows("SELECT count(*) FROM outbox_messages WHERE sent_at IS NULL")[0][0]
        with psycopg.connect(suite.dsn) as locker:
            rabbit.ctl("start_app")
            rabbit.ctl("await_startup")
            held = False
            deadline = time.monotonic() + 60
            while not held and time.monotonic() < deadline:
                locker.execute("LOCK TABLE outbox_messages IN SHARE MODE")
                waits: list[str] = []
                for _ in range(50):
                    waits = [str(q) for q, in suite.rows(WAITING_IN)]
                    if waits:
                        break
                    time.sleep(0.1)
                held = any(q.startswith("UPDATE outbox_messages SET sent_at") for q in waits)
                if held:
                    assert stack.relay is not None and stack.relay.process is not None
                    os.kill(stack.relay.pid, signal.SIGKILL)
                    stack.relay.process.wait(timeout=10)
                locker.rollback()  # not the mark-sent UPDATE (a failure being recorded): let it go, try again
                time.sleep(0.3)
            trial.expect(held, "the relay never reached its mark-sent UPDATE with the table locked")
            trial.note(f"relay SIGKILLed in its mark-sent UPDATE after the broker confirmed its batch "
                       f"(backlog {backlog} rows)")
        stack.start_relay()


def postgres_restart(trial: Trial) -> None:
    time.sleep(6)
    with trial.faulted():
        trial.suite.postgres.restart()


def postgres_refusing(trial: Trial) -> None:
    suite = trial.suite
    time.sleep(5)
    with trial.faulted():
        suite.postgres.allow_connections(suite.database, False)
        time.sleep(8)
        suite.postgres.allow_connections(suite.database, True)
    window = [a for a in trial.workload.answers if trial.fault_at and trial.undone_at
              and trial.fault_at + 0.5 <= a.sent_at <= trial.undone_at - 0.5 and a.status != 202]
    bad = [a for a in window if a.status != 503 or not a.retry_after]
    trial.note(f"{len(window)} submits refused while PostgreSQL refused connections")
    trial.expect(bool(window), "no submit was refused while PostgreSQL refused connections")
    kinds = sorted({f"{a.status} Retry-After={a.retry_after}" for a in bad})
    trial.expect(not bad, f"{len(bad)} refusals other than 503 with Retry-After: {kinds[:5]}")


def smtp_down(trial: Trial) -> None:
    time.sleep(5)
    with trial.faulted():
        trial.suite.smtp.stop()
        time.sleep(10)
        trial.suite.smtp.start()


def _smtp_mode(mode: str, seconds: float) -> Act:
    def act(trial: Trial) -> None:
        time.sleep(5)
        with trial.faulted():
            trial.suite.smtp.handler.mode = mode
            time.sleep(seconds)
            trial.suite.smtp.handler.mode = "normal"
        if mode == "5xx":
            failed = trial.suite.rows("SELECT count(*) FROM jobs WHERE kind = 'invoice.email' AND state = 'failed' "
                                      "AND created_at >= to_timestamp(%s)", trial.started_at)[0][0]
            trial.note(f"{failed} email jobs failed on the 5xx answers so far (a permanent refusal is not retried)")
    return act


def _race(trial: Trial, seed: int, parallel: int = 8) -> list[Answer]:
    """`parallel` submits of one invoice body with one Idempotency-Key, released together."""
    marker = uuid.uuid4().hex
    body = invoice_body(marker, True, random.Random(seed))
    got: list[Answer] = []
    start = threading.Barrier(parallel)

    def one() -> None:
        start.wait()
        got.append(send(trial.suite.client, "invoice", "/api/invoices", body, key=f"race-{marker}",
                        marker=marker, email=True))
    threads = [threading.Thread(target=one) for _ in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return got


def duplicate_key_race(trial: Trial) -> None:
    time.sleep(3)
    with trial.faulted():
        for round_ in range(5):
            got = _race(trial, round_)
            ids = {a.job_id for a in got if a.status == 202}
            trial.expect(len(ids) == 1, f"one Idempotency-Key answered {len(ids)} different jobs: {ids}")
            trial.note(f"round {round_ + 1}: 8 parallel submits, statuses "
                       f"{sorted(str(a.status) for a in got)}")
            for answer in got:
                trial.workload.record(answer)
            time.sleep(1)


def _publisher(trial: Trial) -> tuple[OutboxPublisher, Database]:
    settings = load_settings(trial.suite.stack.env)
    db = Database(settings.resolved_database_url)
    return OutboxPublisher(create_celery(settings), db, outage_cooldown_s=0), db


def same_message_twice(trial: Trial) -> None:
    publisher, db = _publisher(trial)
    try:
        time.sleep(6)
        with trial.faulted():
            for _ in range(3):
                columns = ", ".join(f.name for f in dataclasses.fields(OutboxRow))
                rows = trial.suite.rows(f"SELECT {columns} FROM outbox_messages WHERE job_id IS NOT NULL "
                                        "AND created_at >= to_timestamp(%s) ORDER BY random() LIMIT 40",
                                        trial.started_at)
                sent = publisher.publish([OutboxRow(*row) for row in rows])  # type: ignore[arg-type]
                trial.note(f"{len(sent)} jobs' messages published a second time")
                time.sleep(4)
    finally:
        publisher.close()
        db.dispose()


def poison_messages(trial: Trial) -> None:
    publisher, db = _publisher(trial)
    try:
        time.sleep(5)
        with trial.faulted(), Connection(trial.suite.rabbit.broker_url) as connection:
            producer = Producer(connection.default_channel, exchange=Exchange("jobs", type="topic"))
            for queue in ("invoices", "diagnostics"):
                producer.publish(b"\x00not json{", routing_key=queue, content_type="application/json",
                                 content_encoding="utf-8", headers={"task": "invoice.create", "id": "poison"})
                headers, properties, body = publisher.task_message("invoice.create", str(uuid.uuid4()))
                producer.publish(json.dumps(body), routing_key=queue, headers=headers,
                                 content_type="application/json", content_encoding="utf-8", **properties)
                producer.publish(json.dumps([["x"], {}, {}]), routing_key=queue, content_type="application/json",
                                 content_encoding="utf-8", headers={"task": "no.such.task", "id": str(uuid.uuid4())})
            trial.note("published to invoices and diagnostics: a non-JSON body, a message for an unknown job, "
                       "a message for an unknown task")
        time.sleep(5)
        dead = {q: ready for q, (ready, _unacked) in trial.suite.rabbit.queues().items() if q.endswith(".dead")}
        trial.note(f"dead-letter queues afterwards: {dead}")
        alive = all(w.process is not None and w.process.poll() is None for w in trial.suite.stack.workers.values())
        trial.expect(alive, "a worker died on a poison message")
    finally:
        publisher.close()
        db.dispose()


def pdf_disk_full(trial: Trial) -> None:
    suite = trial.suite
    served: list[int] = []
    broken: list[str] = []
    stop = threading.Event()

    def poll_pdfs() -> None:
        while not stop.is_set():
            for invoice_id, in suite.rows("SELECT id::text FROM invoices ORDER BY created_at DESC LIMIT 5"):
                try:
                    status, _headers, data = suite.client.request("GET", f"/api/invoices/{invoice_id}/pdf")
                except OSError:
                    continue
                if status == 200:
                    served.append(len(data))
                    if not (data.startswith(b"%PDF-") and b"%%EOF" in data[-64:]):
                        broken.append(str(invoice_id))
            time.sleep(0.3)

    poller = threading.Thread(target=poll_pdfs, daemon=True)
    poller.start()
    try:
        time.sleep(5)
        with trial.faulted():
            suite.tmpfs.fill()
            trial.note(f"tmpfs full: {psutil.disk_usage(str(suite.tmpfs.path)).free} bytes free")
            time.sleep(10)
            suite.tmpfs.unfill()
        time.sleep(5)
    finally:
        stop.set()
        poller.join()
    retried = suite.rows("SELECT count(*) FROM jobs WHERE kind = 'invoice.create' AND attempts > 1 "
                         "AND created_at >= to_timestamp(%s)", trial.started_at)[0][0]
    trial.note(f"{retried} invoice jobs took more than one attempt (a full disk is retried)")
    leftovers = [p.name for p in suite.tmpfs.path.rglob(".*.tmp")]
    trial.note(f"{len(served)} PDFs served while polling, {len(broken)} incomplete; temporary files left: "
               f"{len(leftovers)}")
    trial.expect(not broken, f"incomplete PDFs served: {broken[:5]}")


def _early_and_late(rss: list[int]) -> tuple[int, int]:
    """The median RSS of a process's first third of samples (the very first, start-up, left out) and of its last."""
    third = len(rss) // 3
    early, late = sorted(rss[1:third + 1]), sorted(rss[-third:])
    return early[len(early) // 2], late[len(late) // 2]


def soak(restart_every_s: float) -> Act:
    def act(trial: Trial) -> None:
        stack = trial.suite.stack
        samples: dict[tuple[str, int], list[int]] = {}
        last_restart = time.monotonic()
        restarts = 0
        with trial.faulted():
            while trial.workload.thread is not None and trial.workload.thread.is_alive():
                for role, process in stack.processes():
                    try:
                        samples.setdefault((role, process.pid), []).append(process.memory_info().rss)
                    except psutil.Error:
                        continue
                if time.monotonic() - last_restart >= restart_every_s:
                    for name in list(stack.workers):
                        stack.workers[name].stop(timeout=120)
                        stack.start_worker(name)
                    last_restart = time.monotonic()
                    restarts += 1
                time.sleep(5)
        grown = []
        by_role: dict[str, list[int]] = {}
        for (role, pid), rss in samples.items():
            if len(rss) < 8:
                continue
            first, last = _early_and_late(rss)
            by_role.setdefault(role, []).append((last - first) >> 20)
            if last - first > max(40 << 20, first // 2):
                grown.append(f"{role} pid {pid}: {first >> 20} MB -> {last >> 20} MB")
        growth = ", ".join(f"{role} {max(mb):+d} over {len(mb)}" for role, mb in sorted(by_role.items()))
        trial.note(f"workers restarted {restarts} times; RSS sampled every 5 s for {len(samples)} processes, "
                   f"largest growth per role from the median of its first third of samples to its last (MB): {growth}")
        trial.expect(not grown, f"RSS grew: {grown}")
    return act


SOAK_MIX = Mix(rate_per_s=40, count=10_000, invoice_share=0.3, sleep_s=(0.0, 0.05), email_share=0.3,
               import_rows=20_000)
SCENARIOS = [
    Scenario("worker-kill-main", "SIGKILL of each worker's main process mid-job (etl mid-import), restarted",
             kill_worker_mains, Mix(duration_s=25, import_rows=150_000)),
    Scenario("worker-kill-child", "SIGKILL of a pool child running a job in each worker (etl mid-import)",
             kill_pool_children, Mix(duration_s=20, import_rows=150_000)),
    Scenario("worker-term-import", "SIGTERM of the etl worker during a long import (a deploy), restarted",
             term_during_import, Mix(duration_s=20, import_rows=300_000)),
    Scenario("broker-stop-start", "rabbitmqctl stop_app for 10 s, start_app, during 1,000 submits",
             broker_stop_start, Mix(rate_per_s=25, count=1000, sleep_s=(0.0, 0.1)),
             Mix(rate_per_s=25, count=600, sleep_s=(0.0, 0.1))),
    Scenario("broker-close-connections", "rabbitmqctl close_all_connections, twice 5 s apart",
             broker_close_connections, Mix(duration_s=20)),
    Scenario("broker-memory-alarm", "memory alarm (set_vm_memory_high_watermark absolute 1MB) for 10 s, cleared",
             broker_alarm("memory"), Mix(duration_s=25)),
    Scenario("broker-disk-alarm", "disk alarm (set_disk_free_limit 100000GB) for 10 s, cleared",
             broker_alarm("disk"), Mix(duration_s=30)),
    Scenario("web-kill", "gunicorn SIGKILLed with committed, unpublished jobs (publishes held by a memory "
             "alarm), then again under load; restarted", kill_web, Mix(duration_s=25)),
    Scenario("relay-kill", "relay SIGKILLed after the broker confirmed a batch, before its mark-sent UPDATE",
             kill_relay_after_confirm, Mix(duration_s=25)),
    Scenario("postgres-restart", "pg_ctl restart -m fast under load", postgres_restart, Mix(duration_s=20)),
    Scenario("postgres-refusing", "the database refuses every connection for 8 s (ALLOW_CONNECTIONS false, "
             "backends terminated)", postgres_refusing, Mix(duration_s=22)),
    Scenario("smtp-down", "the SMTP server stopped for 10 s, started again", smtp_down,
             Mix(duration_s=20, email_share=1.0)),
    Scenario("smtp-4xx", "the SMTP server answers 451 to every recipient for 10 s", _smtp_mode("4xx", 10),
             Mix(duration_s=20, email_share=1.0)),
    Scenario("smtp-5xx", "the SMTP server answers 550 to every recipient for 8 s", _smtp_mode("5xx", 8),
             Mix(duration_s=20, email_share=1.0), may_fail=("invoice.email: PermanentMailError",)),
    Scenario("idempotency-race", "5 rounds of 8 parallel submits with one Idempotency-Key and body",
             duplicate_key_race, Mix(duration_s=15)),
    Scenario("message-twice", "120 jobs' messages published a second time (during and after their run)",
             same_message_twice, Mix(duration_s=20)),
    Scenario("poison-message", "a non-JSON body, an unknown job and an unknown task published to two queues",
             poison_messages, Mix(duration_s=15)),
    Scenario("pdf-disk-full", "the invoice tmpfs filled for 10 s while PDFs are written and downloaded",
             pdf_disk_full, Mix(duration_s=22, invoice_share=0.8)),
    Scenario("soak", "10,000 mixed jobs at 40/s, every worker restarted (SIGTERM, start) each minute, RSS sampled",
             soak(60),
             SOAK_MIX, Mix(rate_per_s=40, count=2_500, invoice_share=0.3, sleep_s=(0.0, 0.05), email_share=0.3)),
]
