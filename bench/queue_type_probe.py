"""Classic versus quorum task queues under this project's delivery settings: a reproducible probe.

Why it exists: the project runs Celery with late acknowledgement, reject-on-worker-lost, prefetch 1,
JSON only and publisher confirms, and its task queues are bound to a topic exchange and dead-letter
to `<queue>.dead`. Those settings meet the queue type in two places that decide reliability, and
this probe measures both on a real broker so the choice of queue type rests on figures:

* Crash loops. With `task_acks_late` + `task_reject_on_worker_lost`, a task whose pool process dies
  is requeued. Celery itself never bounds that; only the queue can. A classic queue redelivers a
  poison message for ever; a quorum queue counts deliveries (`x-delivery-limit`) and dead-letters
  the message once the limit is passed.
* Retry countdowns. Celery's native delayed delivery (the `celery_delayed_*` queues, where a retry
  waits on the broker) is switched on only when a quorum queue is configured and the queue's
  exchange is not direct. Without it a retried message is an ETA message that a worker fetches and
  holds unacknowledged until it is due: it waits inside the worker, and moves with every restart.

What it does, for each queue type (classic, then quorum), in a throwaway vhost `probe-<random>`
(deleted at the end) with real `celery worker` processes (prefork, -c 1, one worker per measure,
each in its own process group, stopped with killpg):

1. Crash redelivery: a task appends a line to a counter file and SIGKILLs its own pool process. It is
   sent once and watched for up to 20 s: deliveries (lines in the file), and whether and when the
   message reached `<queue>.dead` (with the `x-death` reason).
2. Retry with backoff: a task calls `self.retry(countdown=4)` on its first run and records the time
   of its second run. Every 0.5 s of the wait the probe samples the task queue's messages_ready and
   messages_unacknowledged (management API) and every `celery_delayed_*` queue, then reports where
   the message waited, the actual retry gap, and the warnings in the worker log.
3. Whole-worker kill during the retry wait: as 2, but the worker's process group is SIGKILLed 1 s
   into the wait and a new worker is started at once; did the retry still run, and when.

Caveat on the figures: the management API refreshes queue figures every
`collect_statistics_interval` (5 s by default), so within a 4 s wait its ready/unacked counts are
mostly stale. The probe therefore also reads live counts with a passive `queue.declare` every sample
(ready messages only; AMQP has no unacked count) and calls the message "unacked in the worker" when
it is neither ready in the task queue nor in a `celery_delayed_*` queue. One `rabbitmqctl
list_queues` snapshot 2 s into the wait confirms the task queue's unacked count (live for classic
queues; RabbitMQ 3.10 refreshes a quorum queue's figures there on its own ~5 s tick). All readings
are printed in the sample traces.

Usage (from the project root; needs `rabbitmqctl` as root and the management plugin):

    .venv/bin/python bench/queue_type_probe.py

The workers import this same file as their Celery app (`celery -A queue_type_probe`, configured by
PROBE_* environment variables). The delivery settings are the project's own (`jobs.celery_app.celery_config`);
only the broker URL, the probe's queues and its routes replace the project's.
Set PROBE_KEEP_TMP=1 to keep the worker logs and counter files.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from celery import Celery, Task
from kombu import Connection, Exchange, Queue

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))  # run as a script from anywhere: the project's settings are the subject

from config.settings import load_settings  # noqa: E402
from jobs.celery_app import celery_config as project_celery_config  # noqa: E402

AMQP_ADDRESS = "127.0.0.1:5672"
MANAGEMENT_URL = "http://127.0.0.1:15672"
CREDENTIALS = ("guest", "guest")

TASK_EXCHANGE = Exchange("probe.tasks", type="topic", durable=True)
DEAD_LETTER_EXCHANGE = Exchange("probe.dead", type="direct", durable=True)
DEAD_SUFFIX = ".dead"
QUORUM_DELIVERY_LIMIT = 3

QUEUE_TYPES = ("classic", "quorum")
# measure -> Celery task name; each measure has its own queue `<queue type>.<measure>`.
TASK_NAMES = {"crash": "probe.crash", "retry": "probe.retry", "kill": "probe.retry_kill"}

RETRY_COUNTDOWN_S = 4
CRASH_WATCH_S = 20.0
CRASH_QUIET_AFTER_DEAD_S = 3.0
SAMPLE_EVERY_S = 0.5
KILL_AFTER_S = 1.0
SNAPSHOT_AT_S = 2.0  # when the one live `rabbitmqctl list_queues` snapshot of the wait starts
RETRY_TIMEOUT_S = 15.0
WORKER_READY_TIMEOUT_S = 30.0
DELAYED_PREFIX = "celery_delayed_"
LOG_TIME_RE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})")
NOTABLE_LOG_RE = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b|Warning:|Global QoS")


# ---------------------------------------------------------------- topology and Celery app


def queue_name(queue_type: str, measure: str) -> str:
    return f"{queue_type}.{measure}"


def broker_url(vhost: str) -> str:
    user, password = CREDENTIALS
    return f"amqp://{user}:{password}@{AMQP_ADDRESS}/{quote(vhost, safe='')}"


def task_queue(queue_type: str, measure: str) -> Queue:
    """A task queue on the topic exchange, dead-lettering to `probe.dead` -> `<queue>.dead`."""
    name = queue_name(queue_type, measure)
    arguments: dict[str, Any] = {
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE.name,
        "x-dead-letter-routing-key": name,
    }
    if queue_type == "quorum":
        arguments |= {"x-queue-type": "quorum", "x-delivery-limit": QUORUM_DELIVERY_LIMIT}
    return Queue(name, TASK_EXCHANGE, routing_key=name, durable=True, queue_arguments=arguments)


def dead_letter_queue(queue_type: str, measure: str) -> Queue:
    name = queue_name(queue_type, measure)
    return Queue(
        name + DEAD_SUFFIX,
        DEAD_LETTER_EXCHANGE,
        routing_key=name,
        durable=True,
        queue_arguments={"x-queue-type": queue_type},
    )


def celery_config(queue_type: str, vhost: str) -> dict[str, Any]:
    """The project's own Celery settings (jobs/celery_app.py), with the probe's broker, queues and routes."""
    config = project_celery_config(load_settings({}, broker_url=broker_url(vhost)))
    config.update(
        task_queues=[task_queue(queue_type, measure) for measure in TASK_NAMES],
        task_default_queue=queue_name(queue_type, "crash"),
        task_default_exchange=TASK_EXCHANGE.name,
        task_default_exchange_type=TASK_EXCHANGE.type,
        task_routes={
            task: {"queue": queue_name(queue_type, measure), "routing_key": queue_name(queue_type, measure)}
            for measure, task in TASK_NAMES.items()
        },
        task_annotations={},
    )
    return config


def build_app(queue_type: str, vhost: str) -> Celery:
    app = Celery(f"queue-type-probe-{queue_type}", set_as_current=False)
    app.config_from_object(celery_config(queue_type, vhost))
    return app


def append_line(path: Path, line: str) -> None:
    with path.open("a") as handle:
        handle.write(line + "\n")


def retry_once(task: Task, state_dir: Path, measure: str) -> None:
    """First run: record the time and retry with a countdown. Second run: record the time."""
    if task.request.retries == 0:
        append_line(state_dir / f"{measure}.first", f"{time.time():.3f}")
        raise task.retry(countdown=RETRY_COUNTDOWN_S)
    redelivered = bool((task.request.delivery_info or {}).get("redelivered"))
    append_line(state_dir / f"{measure}.second", f"{time.time():.3f} redelivered={redelivered}")


def register_tasks(app: Celery, state_dir: Path) -> None:
    @app.task(name=TASK_NAMES["crash"], shared=False)
    def crash() -> None:
        append_line(state_dir / "crash.deliveries", f"{time.time():.3f} pid={os.getpid()}")
        os.kill(os.getpid(), signal.SIGKILL)

    @app.task(name=TASK_NAMES["retry"], bind=True, shared=False)
    def retry(self: Task) -> None:
        retry_once(self, state_dir, "retry")

    @app.task(name=TASK_NAMES["kill"], bind=True, shared=False)
    def retry_kill(self: Task) -> None:
        retry_once(self, state_dir, "kill")


def worker_app_from_env() -> Celery | None:
    """The app a `celery -A queue_type_probe worker` process loads; None when run as the probe."""
    queue_type = os.environ.get("PROBE_QUEUE_TYPE")
    if not queue_type:
        return None
    worker_app = build_app(queue_type, os.environ["PROBE_VHOST"])
    register_tasks(worker_app, Path(os.environ["PROBE_STATE_DIR"]))
    return worker_app


# ---------------------------------------------------------------- broker access


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, text=True, timeout=60)


def create_vhost() -> str:
    vhost = f"probe-{secrets.token_hex(4)}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, CREDENTIALS[0], ".*", ".*", ".*")
    return vhost


def delete_vhost(vhost: str) -> None:
    rabbitmqctl("delete_vhost", vhost)


def start_snapshot(vhost: str) -> subprocess.Popen[str]:
    """Start a live `rabbitmqctl list_queues` (about 1 s; it reads the queues, not the lagged stats)."""
    return subprocess.Popen(
        ["rabbitmqctl", "list_queues", "-p", vhost, "-q", "--no-table-headers",
         "name", "messages_ready", "messages_unacknowledged"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )


def read_snapshot(process: subprocess.Popen[str], task_queue_name: str) -> str:
    """The task queue's ready/unacked counts as `rabbitmqctl list_queues` printed them."""
    output, _ = process.communicate(timeout=30)
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == task_queue_name:
            return f"ready={parts[1]} unacked={parts[2]}"
    return "no output"


def management_get(path: str) -> Any:
    response = requests.get(MANAGEMENT_URL + path, auth=CREDENTIALS, timeout=3)
    response.raise_for_status()
    return response.json()


def management_queue(vhost: str, name: str) -> tuple[int | None, int | None]:
    """(messages_ready, messages_unacknowledged) as the management API reports them (lagged)."""
    info = management_get(f"/api/queues/{quote(vhost, safe='')}/{quote(name, safe='')}")
    return info.get("messages_ready"), info.get("messages_unacknowledged")


def delayed_queue_names(vhost: str) -> list[str]:
    queues = management_get(f"/api/queues/{quote(vhost, safe='')}?columns=name")
    return sorted(q["name"] for q in queues if q["name"].startswith(DELAYED_PREFIX))


class LiveQueues:
    """Live queue figures over AMQP (passive queue.declare), not subject to the statistics lag."""

    def __init__(self, url: str) -> None:
        self.connection = Connection(url)
        self.connection.connect()
        self.channel = self.connection.channel()

    def depth(self, name: str) -> tuple[int, int] | None:
        """(ready messages, consumers), or None when the queue does not exist."""
        try:
            declared = self.channel.queue_declare(queue=name, passive=True)
        except self.connection.channel_errors:
            self.channel = self.connection.channel()
            return None
        return declared.message_count, declared.consumer_count

    def ready(self, name: str) -> int | None:
        depth = self.depth(name)
        return None if depth is None else depth[0]

    def first_death(self, name: str) -> str | None:
        """The x-death reason and count of the first message in `name` (left in the queue)."""
        message = self.channel.basic_get(queue=name, no_ack=False)
        if message is None:
            return None
        self.channel.basic_reject(message.delivery_tag, requeue=True)
        deaths = (message.headers or {}).get("x-death") or [{}]
        return f"reason={deaths[0].get('reason')}, x-death count={deaths[0].get('count')}"

    def close(self) -> None:
        self.connection.release()


def declare_topology(app: Celery, queue_type: str) -> None:
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for measure in TASK_NAMES:
            task_queue(queue_type, measure)(channel).declare()
            dead_letter_queue(queue_type, measure)(channel).declare()


# ---------------------------------------------------------------- workers


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path
    started: float

    def is_ready(self) -> bool:
        return self.log.exists() and " ready." in self.log.read_text(errors="replace")

    def ready_at(self) -> float | None:
        """Epoch time of the worker's "ready." log line (Celery's default log format, local time)."""
        for line in self.log.read_text(errors="replace").splitlines():
            if line.endswith(" ready.") and (stamp := LOG_TIME_RE.match(line)):
                seconds = time.mktime(time.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S"))
                return seconds + int(stamp.group(2)) / 1000
        return None

    def kill(self) -> None:
        """SIGKILL the worker's whole process group (main process and pool processes)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@dataclass
class Case:
    """One queue type's run: its app, its broker view, its files and its workers."""

    queue_type: str
    vhost: str
    state_dir: Path
    app: Celery
    live: LiveQueues
    workers: list[Worker] = field(default_factory=list)

    def queue(self, measure: str) -> str:
        return queue_name(self.queue_type, measure)


def start_worker(case: Case, measure: str) -> Worker:
    log = case.state_dir / f"worker-{measure}-{len(case.workers)}.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent), str(PROJECT_ROOT)]),
        "PROBE_QUEUE_TYPE": case.queue_type,
        "PROBE_VHOST": case.vhost,
        "PROBE_STATE_DIR": str(case.state_dir),
    }
    command = [
        sys.executable, "-m", "celery", "-A", "queue_type_probe", "worker",
        "-P", "prefork", "-c", "1", "-Q", case.queue(measure), "-l", "INFO",
        "-n", f"{case.queue(measure)}-{len(case.workers)}@probe",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=case.state_dir, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    worker = Worker(process, log, time.monotonic())
    case.workers.append(worker)
    return worker


def wait_until(condition: Callable[[], bool], timeout_s: float, every_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every_s)
    return condition()


def wait_ready(case: Case, worker: Worker, measure: str) -> None:
    def consuming() -> bool:
        depth = case.live.depth(case.queue(measure))
        return worker.is_ready() and depth is not None and depth[1] > 0

    if not wait_until(consuming, WORKER_READY_TIMEOUT_S):
        raise RuntimeError(f"worker for {case.queue(measure)} not ready; see {worker.log}")


def stop_workers(case: Case) -> None:
    for worker in case.workers:
        worker.kill()


def worker_warnings(case: Case, measure: str) -> list[str]:
    """Distinct warning/error lines (and the QoS note) of the measure's worker logs, no timestamps."""
    seen: dict[str, None] = {}
    for log in sorted(case.state_dir.glob(f"worker-{measure}-*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if NOTABLE_LOG_RE.search(line):
                seen[re.sub(r"^\[[^\]]*\]\s*", "", line).strip()] = None
    return list(seen)


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


# ---------------------------------------------------------------- measure 1: crash loop


@dataclass
class CrashResult:
    deliveries: int
    watched_s: float
    dead_after_s: float | None
    death: str | None
    left_in_queue: int | None
    gaps_s: list[float]


def measure_crash(case: Case) -> CrashResult:
    measure = "crash"
    wait_ready(case, start_worker(case, measure), measure)
    counter = case.state_dir / "crash.deliveries"
    dead_queue = case.queue(measure) + DEAD_SUFFIX
    started = time.monotonic()
    case.app.send_task(TASK_NAMES[measure])
    dead_after: float | None = None
    while time.monotonic() - started < CRASH_WATCH_S:
        if dead_after is None and (case.live.ready(dead_queue) or 0) > 0:
            dead_after = time.monotonic() - started
        if dead_after is not None and time.monotonic() - started - dead_after > CRASH_QUIET_AFTER_DEAD_S:
            break
        time.sleep(0.1)
    watched = time.monotonic() - started
    stop_workers(case)
    stamps = [float(line.split()[0]) for line in read_lines(counter)]
    return CrashResult(
        deliveries=len(stamps),
        gaps_s=[later - earlier for earlier, later in itertools.pairwise(stamps)],
        watched_s=watched,
        dead_after_s=dead_after,
        death=case.live.first_death(dead_queue) if dead_after is not None else None,
        left_in_queue=case.live.ready(case.queue(measure)),
    )


# ---------------------------------------------------------------- measures 2 and 3: retry


@dataclass
class Sample:
    t_s: float  # seconds since the first run recorded its retry
    mgmt_ready: int | None
    mgmt_unacked: int | None
    live_ready: int | None
    delayed: dict[str, int]
    note: str = ""

    def place(self) -> str:
        """Where the message is: a delayed queue, ready in the task queue, or held by a worker."""
        if self.delayed:
            return "broker: " + ", ".join(sorted(self.delayed))
        if self.live_ready:
            return "broker: task queue, ready"
        return "worker: unacked"


@dataclass
class RetryResult:
    ran: bool
    gap_s: float | None
    second_runs: int
    redelivered: bool | None
    samples: list[Sample]
    warnings: list[str]
    killed_at_s: float | None = None
    new_worker_ready_at_s: float | None = None
    snapshot: str = ""


def take_sample(case: Case, measure: str, first_run: float, delayed_names: list[str]) -> Sample:
    name = case.queue(measure)
    mgmt_ready, mgmt_unacked = management_queue(case.vhost, name)
    delayed = {q: n for q in delayed_names if (n := case.live.ready(q) or 0) > 0}
    return Sample(time.time() - first_run, mgmt_ready, mgmt_unacked, case.live.ready(name), delayed)


def first_timestamp(path: Path) -> float | None:
    lines = read_lines(path)
    return float(lines[0].split()[0]) if lines else None


def measure_retry(case: Case, measure: str, kill_worker: bool) -> RetryResult:
    worker = start_worker(case, measure)
    wait_ready(case, worker, measure)
    first_file, second_file = case.state_dir / f"{measure}.first", case.state_dir / f"{measure}.second"
    case.app.send_task(TASK_NAMES[measure])
    if not wait_until(first_file.exists, RETRY_TIMEOUT_S):
        raise RuntimeError(f"first run of {TASK_NAMES[measure]} never happened; see {worker.log}")
    first_run = first_timestamp(first_file) or time.time()
    delayed_names = delayed_queue_names(case.vhost)
    samples: list[Sample] = []
    result = RetryResult(False, None, 0, None, samples, [])
    replacement: Worker | None = None
    snapshot: tuple[float, subprocess.Popen[str]] | None = None
    while not second_file.exists() and time.time() - first_run < RETRY_TIMEOUT_S:
        sample = take_sample(case, measure, first_run, delayed_names)
        if kill_worker and result.killed_at_s is None and sample.t_s >= KILL_AFTER_S:
            worker.kill()
            result.killed_at_s = time.time() - first_run
            replacement = start_worker(case, measure)
            sample.note = "worker killed, new worker starting"
        if snapshot is None and sample.t_s >= SNAPSHOT_AT_S:
            snapshot = (sample.t_s, start_snapshot(case.vhost))
            sample.note = "rabbitmqctl snapshot started"
        samples.append(sample)
        time.sleep(max(0.0, SAMPLE_EVERY_S - (time.time() - first_run - sample.t_s)))
    if second_file.exists():
        time.sleep(1.5)  # let a duplicate second run show up, if there is one
        second_lines = read_lines(second_file)
        result.ran, result.second_runs = True, len(second_lines)
        result.gap_s = float(second_lines[0].split()[0]) - first_run
        result.redelivered = "redelivered=True" in second_lines[0]
    if snapshot is not None:
        result.snapshot = f"at t={snapshot[0]:.1f} s: " + read_snapshot(snapshot[1], case.queue(measure))
    ready_at = replacement.ready_at() if replacement else None
    result.new_worker_ready_at_s = None if ready_at is None else ready_at - first_run
    stop_workers(case)
    result.warnings = worker_warnings(case, measure)
    return result


# ---------------------------------------------------------------- running and reporting


@dataclass
class QueueTypeResult:
    crash: CrashResult
    retry: RetryResult
    kill: RetryResult


def run_queue_type(queue_type: str, vhost: str, tmp: Path) -> QueueTypeResult:
    state_dir = tmp / queue_type
    state_dir.mkdir()
    app = build_app(queue_type, vhost)
    case = Case(queue_type, vhost, state_dir, app, LiveQueues(broker_url(vhost)))
    try:
        declare_topology(app, queue_type)
        crash = measure_crash(case)
        retry = measure_retry(case, "retry", kill_worker=False)
        kill = measure_retry(case, "kill", kill_worker=True)
        return QueueTypeResult(crash, retry, kill)
    finally:
        stop_workers(case)
        case.live.close()
        app.close()


def describe_crash_deliveries(result: CrashResult) -> str:
    gaps = sorted(result.gaps_s)
    gap_text = f"; gap between deliveries {gaps[0]:.2f}-{gaps[-1]:.2f} s" if gaps else ""
    if result.dead_after_s is None:
        return f"{result.deliveries} in {result.watched_s:.0f} s, still looping{gap_text}"
    return f"{result.deliveries}, then none (watched {result.watched_s:.1f} s){gap_text}"


def describe_crash_dead(result: CrashResult) -> str:
    if result.dead_after_s is None:
        return f"never (message still in the task queue: {result.left_in_queue} ready)"
    return f"yes, after {result.dead_after_s:.1f} s ({result.death})"


def describe_place(result: RetryResult, until_s: float | None = None) -> str:
    samples = [s for s in result.samples if until_s is None or s.t_s < until_s]
    counts: dict[str, int] = {}
    for sample in samples:
        counts[sample.place()] = counts.get(sample.place(), 0) + 1
    places = "; ".join(f"{place} ({n}/{len(samples)} samples)" for place, n in counts.items())
    unacked = max((s.mgmt_unacked or 0 for s in samples), default=0)
    return f"{places}; task queue per rabbitmqctl {result.snapshot}; mgmt API max unacked {unacked} (lagged)"


def describe_gap(result: RetryResult) -> str:
    if not result.ran or result.gap_s is None:
        return f"did not run within {RETRY_TIMEOUT_S:.0f} s"
    duplicate = "" if result.second_runs == 1 else f", ran {result.second_runs} times"
    return f"{result.gap_s:.2f} s{duplicate}"


def describe_warnings(result: RetryResult) -> str:
    relevant = [w for w in result.warnings if "superuser privileges" not in w]
    hidden = len(result.warnings) - len(relevant)
    text = "<br>".join(w[:160] for w in relevant) or "none"
    return text + (" (plus the run-as-root SecurityWarning)" if hidden else "")


def describe_kill(result: RetryResult) -> str:
    if not result.ran or result.gap_s is None:
        return f"no: retry never ran within {RETRY_TIMEOUT_S:.0f} s"
    ready = result.new_worker_ready_at_s
    ready_text = f", new worker ready at {ready:.1f} s" if ready is not None else ""
    return (
        f"yes, {result.gap_s:.2f} s after the first run (killed at {result.killed_at_s:.1f} s{ready_text}; "
        f"redelivered={result.redelivered}, runs={result.second_runs})"
    )


def table_rows(results: dict[str, QueueTypeResult]) -> list[tuple[str, Callable[[QueueTypeResult], str]]]:
    return [
        ("1. Crash loop: deliveries (SIGKILL of pool process, 20 s watch)",
         lambda r: describe_crash_deliveries(r.crash)),
        ("1. Crash loop: reached `<queue>.dead`", lambda r: describe_crash_dead(r.crash)),
        ("2. Retry (countdown 4 s): where the message waited", lambda r: describe_place(r.retry)),
        ("2. Retry: actual gap", lambda r: describe_gap(r.retry)),
        ("2. Retry: warnings (and QoS note) in worker log", lambda r: describe_warnings(r.retry)),
        ("3. Worker killed 1 s into the wait: where it waited", lambda r: describe_place(r.kill)),
        ("3. Worker killed: did the retry run, after how long", lambda r: describe_kill(r.kill)),
        ("3. Worker killed: warnings (and QoS note) in worker logs", lambda r: describe_warnings(r.kill)),
    ]


def render_table(results: dict[str, QueueTypeResult]) -> str:
    header = "| measure | " + " | ".join(results) + " |"
    lines = [header, "| --- |" + " --- |" * len(results)]
    for label, describe in table_rows(results):
        cells = [describe(result).replace("|", "\\|") for result in results.values()]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_samples(queue_type: str, measure: str, result: RetryResult) -> str:
    lines = [f"{queue_type} / {measure}: t(s) mgmt_ready mgmt_unacked live_ready delayed -> place"]
    for s in result.samples:
        delayed = ",".join(f"{q}={n}" for q, n in sorted(s.delayed.items())) or "-"
        note = f"  [{s.note}]" if s.note else ""
        lines.append(
            f"  {s.t_s:5.2f} {s.mgmt_ready!s:>4} {s.mgmt_unacked!s:>4} {s.live_ready!s:>4} "
            f"{delayed} -> {s.place()}{note}"
        )
    return "\n".join(lines)


def main() -> int:
    started = time.monotonic()
    vhost = create_vhost()
    tmp = Path(tempfile.mkdtemp(prefix="queue-type-probe-"))
    try:
        results = {queue_type: run_queue_type(queue_type, vhost, tmp) for queue_type in QUEUE_TYPES}
    finally:
        delete_vhost(vhost)
        if os.environ.get("PROBE_KEEP_TMP"):
            print(f"scratch dir kept: {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(render_table(results))
    print("\nSample traces (every 0.5 s from the first run's retry; mgmt_* lag by up to 5 s):\n")
    for queue_type, result in results.items():
        print(render_samples(queue_type, "retry", result.retry))
        print(render_samples(queue_type, "kill", result.kill))
    print(f"\nRabbitMQ via {AMQP_ADDRESS}, vhost {vhost} (deleted); took {time.monotonic() - started:.0f} s")
    return 0


app = worker_app_from_env()

if __name__ == "__main__":
    sys.exit(main())
