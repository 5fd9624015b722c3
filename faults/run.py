"""Running the suite: its services up, each scenario under the workload, the checker's figures, the report.

Everything the suite starts is stopped and removed at the end, on failure and on SIGINT/SIGTERM too
(try/finally, atexit and signal handlers share one list of undo steps).
"""
from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import logging
import shutil
import signal
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import psycopg

from config.settings import PROJECT_ROOT
from faults.checker import ImportExpectation, Truth, pdf_complete, read_truth, tally, wait_settled
from faults.report import Result, table, write_report
from faults.scenarios import ALARMS, SCENARIOS, Scenario
from faults.services import PostgresInstance, SmtpSink, Tmpfs, rabbit_nodes, scratch_dir, wait_until_accepting
from faults.stack import AppStack
from faults.trial import Suite, Trial
from faults.workload import Answer, ApiClient, Workload, orders_file, submit_import

log = logging.getLogger("faults")
RECOVERY_WINDOW_S = 180.0
DATABASE = "faults"


class Undo:
    """Undo steps run once, newest first, whichever of finally, atexit or a signal comes first."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, Callable[[], object]]] = []

    def push(self, what: str, step: Callable[[], object]) -> None:
        self.steps.append((what, step))

    def run(self) -> None:
        while self.steps:
            what, step = self.steps.pop()
            try:
                step()
            except Exception:  # one failed step must not keep the others from running
                log.exception("clean-up step failed: %s", what)


def start_suite(undo: Undo, log_dir: Path) -> Suite:
    base = scratch_dir()
    undo.push("remove the scratch directory", lambda: shutil.rmtree(base, ignore_errors=True))
    rabbit = rabbit_nodes(base)[0]
    undo.push("stop the RabbitMQ node", rabbit.stop)
    rabbit.start()
    postgres = PostgresInstance(base / "pg")
    undo.push("stop PostgreSQL", postgres.stop)
    postgres.start()
    url = postgres.create_database(DATABASE)
    smtp = SmtpSink().start()
    undo.push("stop the SMTP sink", smtp.stop)
    var_dir = base / "var"
    tmpfs = Tmpfs(var_dir / "invoices")
    undo.push("unmount the tmpfs", tmpfs.unmount)
    tmpfs.mount()
    stack = AppStack.prepare(database_url=url, broker_url=rabbit.broker_url, management_url=rabbit.management_url,
                             var_dir=var_dir, smtp_port=smtp.port, log_dir=log_dir)
    undo.push("stop the app's processes", stack.stop)
    stack.heal()
    log.info("suite up: RabbitMQ %s (amqp %d), PostgreSQL on %d, SMTP on %d, web on %d", rabbit.nodename,
             rabbit.amqp_port, postgres.port, smtp.port, stack.web_port)
    return Suite(base, rabbit, postgres, DATABASE, smtp, tmpfs, stack, ApiClient(stack.url, stack.token))


def heal(suite: Suite) -> list[str]:
    """Undo whatever a scenario may have left: the broker's app and alarms, the database, the sink, the disk."""
    suite.rabbit.ctl("start_app", check=False)
    suite.rabbit.ctl("await_startup", check=False)
    for _raise, clear in ALARMS.values():
        suite.rabbit.ctl(*clear, check=False)
    if not (suite.postgres.data_dir / "postmaster.pid").exists():
        suite.postgres.pg_start()
    wait_until_accepting(suite.postgres.dsn())
    suite.postgres.allow_connections(suite.database, True)
    suite.smtp.handler.mode = "normal"
    if suite.smtp.controller is None:
        suite.smtp.start()
    suite.tmpfs.unfill()
    return suite.stack.heal()


def subjects(suite: Suite) -> list[str]:
    with suite.smtp.handler.lock:
        return [str(message["Subject"]) for _recipients, message in suite.smtp.handler.received]


def write_answers(path: Path, answers: list[Answer]) -> None:
    """The client's log: every answer, one JSON object a line (accepted ids, refusals with their status)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for answer in answers:
            out.write(json.dumps(dataclasses.asdict(answer)) + "\n")


def skipped_deliveries(log_dir: Path) -> int:
    """How many deliveries the workers have dropped as copies (their log's "delivery skipped" lines)."""
    return sum(path.read_text(errors="replace").count("delivery skipped") for path in log_dir.glob("worker-*.log"))


def run_scenario(suite: Suite, scenario: Scenario, profile: str) -> Result:
    mix = scenario.ci_mix if profile == "ci" and scenario.ci_mix else scenario.mix
    began = time.monotonic()
    heal(suite)
    skipped_before = skipped_deliveries(suite.stack.log_dir)
    workload = Workload(suite.client, mix, seed=zlib.crc32(scenario.name.encode()))
    trial = Trial(suite, workload, started_at=time.time() - 0.5)
    imports: list[tuple[Answer, ImportExpectation]] = []
    if mix.import_rows:
        first = suite.next_order_id
        suite.next_order_id += mix.import_rows
        answer = submit_import(suite.client, orders_file(suite.base / "csv", first, mix.import_rows))
        imports.append((answer, ImportExpectation(first, mix.import_rows)))
        if answer.status != 202:
            trial.problems.append(f"the import was refused: {answer.status} {answer.error}")
    workload.start()
    try:
        scenario.act(trial)
    except Exception as error:  # a scenario that cannot do its fault fails, and the suite goes on
        log.exception("scenario %s failed to act", scenario.name)
        trial.problems.append(f"the scenario could not act: {type(error).__name__}: {error}")
        workload.stop()
    answers = workload.wait()
    write_answers(suite.stack.log_dir / f"answers-{scenario.name}.jsonl", [answer for answer, _ in imports] + answers)
    if trial.undone_at is None:
        trial.undone_at = time.time()
    left_down = heal(suite)
    if left_down:
        trial.problems.append(f"not running after the scenario (restarted by the suite): {', '.join(left_down)}")
    expectations = [expected for _answer, expected in imports]
    last: list[Truth] = []

    def read() -> Truth:
        try:
            last[:] = [read_truth(suite.dsn, trial.started_at, subjects(suite), expectations, suite.rabbit.queues())]
        except (psycopg.Error, RuntimeError) as error:
            log.warning("reading the truth failed (%s); trying again", error)
            if not last:
                raise
        return last[0]

    truth = wait_settled(read, RECOVERY_WINDOW_S)
    result = tally(answers, truth, imports=imports, undone_at=trial.undone_at, pdf_ok=pdf_complete)
    result.problems += trial.problems
    result.notes.append(f"{skipped_deliveries(suite.stack.log_dir) - skipped_before} deliveries dropped by the "
                        "workers as copies")
    unexpected = {why: n for why, n in result.failed.items() if not why.startswith(scenario.may_fail or ("\0",))}
    if unexpected:
        result.problems.append(f"jobs failed for reasons this fault should not cause: {unexpected}")
    result.notes += trial.notes
    what = scenario.what
    if mix is not scenario.mix:
        what += f" (CI profile: {mix.count} submits)" if mix.count else f" (CI profile: {mix.duration_s:.0f} s)"
    return Result(scenario.name, what, result, time.monotonic() - began)


def versions(suite: Suite | None) -> dict[str, str]:
    sys.path.insert(0, str(PROJECT_ROOT))
    from bench.stack import machine_description

    found = machine_description()
    found.pop("wrk", None)
    if suite is not None:
        with contextlib.suppress(psycopg.Error), psycopg.connect(suite.postgres.dsn()) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            found["postgresql"] = f"PostgreSQL {row[0] if row else '?'} (the suite's own instance)"
        found["rabbitmq"] += f" (the suite's own node {suite.rabbit.nodename})"
    return found


def _raise_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(names: list[str], profile: str, report: Path | None) -> int:
    """Run the named scenarios (all if none); write `report` when given; 0 if every scenario passed."""
    chosen = [s for s in SCENARIOS if not names or s.name in names]
    unknown = set(names) - {s.name for s in SCENARIOS}
    if unknown:
        print(f"unknown scenario(s) {sorted(unknown)}; known: {[s.name for s in SCENARIOS]}", file=sys.stderr)
        return 2
    log_dir = PROJECT_ROOT / "test-artifacts" / f"faults-{time.strftime('%Y%m%d-%H%M%S')}"
    undo = Undo()
    atexit.register(undo.run)
    signal.signal(signal.SIGTERM, _raise_on_signal)
    began = time.monotonic()
    results: list[Result] = []
    suite: Suite | None = None
    try:
        suite = start_suite(undo, log_dir)
        for scenario in chosen:
            log.info("scenario %s: %s", scenario.name, scenario.what)
            result = run_scenario(suite, scenario, profile)
            results.append(result)
            print("\n".join(table([result])[2:]), flush=True)
            for line in [str(dict(result.tally.finished_by_kind)), *result.tally.notes,
                         *result.tally.duplicate_reasons[:10],
                         *(f"LOST {lost}" for lost in result.tally.lost[:10]),
                         *(f"PROBLEM {problem}" for problem in result.tally.problems[:10])]:
                print(f"    {line}", flush=True)
        found_versions = versions(suite)
    finally:
        undo.run()
    total = time.monotonic() - began
    print("\n".join(table(results)))
    print(f"{len(results)} scenarios in {total / 60:.1f} min; logs in {log_dir}")
    if report is not None:
        write_report(report, results, found_versions, profile, total)
        print(f"report written to {report}")
    return 0 if results and all(r.tally.passed for r in results) else 1
