"""The checker: what really happened, read from the sources of truth rather than the job rows' own claims.

`read_truth` collects the invoices table, the emails the SMTP sink received, the loaded order rows,
the job and attempt rows and the broker's queues; `tally` is pure arithmetic over those and the
client's answers, so its rules are unit-tested (tests/unit/test_faults_checker.py).
"""
from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from faults.workload import Answer

TERMINAL = {"succeeded", "failed", "cancelled"}
TASK_QUEUES = ("invoices", "invoices.bulk", "etl", "notifications", "diagnostics")
NUMBER = re.compile(r"^(?P<series>.+)-(?P<seq>\d+)$")
SUBJECT_NUMBER = re.compile(r"Invoice (\S+) from")


@dataclass(frozen=True)
class JobRow:
    id: str
    kind: str
    state: str
    attempts: int
    attempt_rows: int
    outcomes: tuple[str, ...]
    worker_lost: int
    error: dict[str, Any] | None
    result: dict[str, Any] | None
    key: str | None
    notes: str | None
    invoice_id: str | None  # an email job's invoice
    wants_email: bool  # an invoice job asked to email its invoice
    created_at: float
    finished_at: float | None


@dataclass(frozen=True)
class InvoiceRow:
    id: str
    number: str
    job_id: str
    notes: str | None
    pdf_path: str | None


@dataclass(frozen=True)
class ImportExpectation:
    """An import the workload sent: its order ids first_id.. and how many rows the file holds."""

    first_id: int
    rows: int


@dataclass
class Truth:
    jobs: dict[str, JobRow]
    invoices: list[InvoiceRow]
    emails: Counter[str]  # invoice number -> messages the sink received
    orders_in_range: int = 0
    queues: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass
class Tally:
    """One scenario's figures; `problems` are broken guarantees (the scenario fails if any)."""

    accepted: int = 0
    succeeded: int = 0
    finished_by_kind: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    duplicates: Counter[str] = field(default_factory=Counter)
    duplicate_reasons: list[str] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
    unanswered: int = 0
    recovery_s: float | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.lost and not self.problems and not self.hard_duplicates

    @property
    def hard_duplicates(self) -> int:
        """Duplicates that break a guarantee: everything but email, which is at-least-once."""
        return sum(n for kind, n in self.duplicates.items() if kind != "email")


def reason(error: dict[str, Any] | None) -> str:
    """A failure's reason as a short label: its type and the start of its message, digits and ids removed."""
    if not error:
        return "unknown"
    message = re.sub(r"[0-9a-f]{8,}|\d+", "N", str(error.get("message", "")))[:70]
    return f"{error.get('type', 'Error')}: {message}"


def number_gaps(numbers: Iterable[str]) -> list[str]:
    """Numbers missing from each series' 1..max, and numbers used twice, as readable strings."""
    series: dict[str, list[int]] = {}
    for number in numbers:
        match = NUMBER.match(number)
        if match:
            series.setdefault(match["series"], []).append(int(match["seq"]))
    problems = []
    for name, seqs in sorted(series.items()):
        counted = Counter(seqs)
        problems += [f"{name}-{seq:06d} used {n} times" for seq, n in sorted(counted.items()) if n > 1]
        missing = sorted(set(range(1, max(seqs) + 1)) - set(seqs))
        if missing:
            problems.append(f"series {name}: {len(missing)} numbers missing, first {missing[:5]}")
    return problems


def recovery_s(jobs: Iterable[JobRow], undone_at: float | None) -> float | None:
    """Seconds from the fault's undoing to the last outcome of a job accepted before it (0 if none was left)."""
    if undone_at is None:
        return None
    finishes = [job.finished_at for job in jobs if job.created_at <= undone_at and job.finished_at is not None]
    return round(max(0.0, max(finishes, default=undone_at) - undone_at), 1)


def _email_reason(job: JobRow | None) -> str:
    if job is None:
        return "no email job found"
    if "lost" in job.outcomes:
        return "a notification worker was lost after the SMTP server had accepted the message (attempt lost, redone)"
    if "retrying" in job.outcomes:
        return "an attempt the SMTP server accepted was retried (its reply was lost)"
    return "unexplained"


def tally(answers: list[Answer], truth: Truth, *, imports: list[tuple[Answer, ImportExpectation]] = (),  # type: ignore[assignment]
          undone_at: float | None = None, pdf_ok: Callable[[str], bool] | None = None) -> Tally:
    """The scenario's figures from the client's answers and the truth read after the recovery window."""
    out = Tally()
    jobs = truth.jobs
    by_key = {job.key: job for job in jobs.values() if job.key}
    by_notes: dict[str, list[JobRow]] = {}
    for job in jobs.values():
        if job.notes:
            by_notes.setdefault(job.notes, []).append(job)
    invoices_by_job: dict[str, list[InvoiceRow]] = {}
    invoices_by_notes: Counter[str] = Counter()
    for invoice in truth.invoices:
        invoices_by_job.setdefault(invoice.job_id, []).append(invoice)
        if invoice.notes:
            invoices_by_notes[invoice.notes] += 1
    email_jobs: dict[str, list[JobRow]] = {}
    for job in jobs.values():
        if job.kind == "invoice.email" and job.invoice_id:
            email_jobs.setdefault(job.invoice_id, []).append(job)

    mine: dict[str, JobRow] = {}  # every job a request of this workload made, whatever its answer said
    for answer in answers:
        found = _job_of(answer, jobs, by_key, by_notes)
        if answer.status == 202:
            out.accepted += 1
            if answer.job_id not in jobs:
                out.lost.append(f"{answer.kind} {answer.job_id}: accepted (202) but no job row")
                continue
        elif answer.status is None:
            out.unanswered += 1
            out.refused["no answer"] += 1
        else:
            label = f"{answer.status}" + (" +Retry-After" if answer.retry_after else "")
            out.refused[label] += 1
            if answer.key is None and found:
                out.problems.append(f"{answer.kind} {answer.marker}: refused with {answer.status} "
                                    f"but its job {found[0].id} exists (half-accepted)")
        for job in found:
            mine[job.id] = job
    for marker in {answer.marker for answer in answers if answer.kind == "invoice"}:  # one request, retried or raced
        extra_jobs, extra_invoices = len(by_notes.get(marker, [])) - 1, invoices_by_notes[marker] - 1
        if extra_jobs > 0:
            out.duplicates["job"] += extra_jobs
        if extra_invoices > 0:
            out.duplicates["invoice"] += extra_invoices
    for answer, _expected in imports:
        if answer.job_id in jobs:
            mine[answer.job_id] = jobs[answer.job_id]
        elif answer.status == 202:
            out.lost.append(f"import {answer.job_id}: accepted but no job row")
    for job in list(mine.values()):
        for email in email_jobs.get(job.result.get("invoice_id", "") if job.result else "", []):
            mine[email.id] = email

    for job in mine.values():
        if job.state not in TERMINAL:
            out.lost.append(f"{job.kind} {job.id}: still {job.state} after the recovery window")
            continue
        out.finished_by_kind[f"{job.kind} {job.state}"] += 1
        if job.state == "succeeded":
            out.succeeded += 1
        else:
            out.failed[f"{job.kind}: {reason(job.error)}"] += 1
        if job.attempt_rows != job.attempts:
            out.problems.append(f"{job.kind} {job.id}: {job.attempts} attempts counted, {job.attempt_rows} recorded")
        if job.outcomes.count("succeeded") > 1:
            out.duplicates["execution"] += job.outcomes.count("succeeded") - 1
        if job.kind == "invoice.create":
            _check_invoice(job, invoices_by_job.get(job.id, []), email_jobs, truth.emails, out, pdf_ok)
    _check_imports(imports, jobs, truth, out)
    numbers = [invoice.number for invoice in truth.invoices]
    out.problems += number_gaps(numbers)
    for queue in TASK_QUEUES:
        ready, unacked = truth.queues.get(queue, (0, 0))
        if ready or unacked:
            out.problems.append(f"queue {queue}: {ready} ready and {unacked} unacknowledged messages left "
                                "with every job finished")
    out.recovery_s = recovery_s(mine.values(), undone_at)
    return out


def _job_of(answer: Answer, jobs: dict[str, JobRow], by_key: dict[str, JobRow],
            by_notes: dict[str, list[JobRow]]) -> list[JobRow]:
    if answer.job_id in jobs:
        return [jobs[answer.job_id]]
    if answer.key and answer.key in by_key:
        return [by_key[answer.key]]
    if answer.kind == "invoice":
        return by_notes.get(answer.marker, [])
    return []


def _check_invoice(job: JobRow, invoices: list[InvoiceRow], email_jobs: dict[str, list[JobRow]],
                   emails: Counter[str], out: Tally, pdf_ok: Callable[[str], bool] | None) -> None:
    if job.state != "succeeded":
        return
    if not invoices:
        out.lost.append(f"invoice job {job.id}: succeeded without an invoice row")
        return
    invoice = invoices[0]
    if pdf_ok is not None and not (invoice.pdf_path and pdf_ok(invoice.pdf_path)):
        out.lost.append(f"invoice {invoice.number}: job succeeded but its PDF is missing or incomplete")
    mails = email_jobs.get(invoice.id, [])
    if len(mails) > 1:
        out.duplicates["email job"] += len(mails) - 1
    if not mails:
        if job.wants_email:
            out.lost.append(f"email of {invoice.number}: asked for, and no email job was ever started")
        return
    received = emails.get(invoice.number, 0)
    mail = mails[0]
    if mail.state == "succeeded" and received == 0:
        out.lost.append(f"email of {invoice.number}: its job succeeded but the SMTP sink received nothing")
    if received > 1:
        out.duplicates["email"] += received - 1
        out.duplicate_reasons.append(f"email of {invoice.number} x{received}: {_email_reason(mail)}")


def _check_imports(imports: Iterable[tuple[Answer, ImportExpectation]], jobs: dict[str, JobRow], truth: Truth,
                   out: Tally) -> None:
    for answer, expected in imports:
        job = jobs.get(answer.job_id or "")
        if job is None or job.state != "succeeded":
            continue
        loaded = truth.orders_in_range
        if loaded < expected.rows:
            out.lost.append(f"import {job.id}: {loaded} of the file's {expected.rows} rows in the table")
        if loaded > expected.rows:
            out.duplicates["row"] += loaded - expected.rows
        summary = job.result or {}
        counted = int(summary.get("rows_loaded", expected.rows))
        if counted > expected.rows:
            out.duplicates["row (counted)"] += counted - expected.rows
        if counted < expected.rows:
            out.problems.append(f"import {job.id}: summary says {counted} rows loaded of {expected.rows}")


def pdf_complete(path: str) -> bool:
    """A whole PDF: it starts with the header and ends with the end-of-file marker."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return False
    return data.startswith(b"%PDF-") and b"%%EOF" in data[-64:]


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def read_truth(dsn: str, since: float, emails: Iterable[str], imports: Iterable[ImportExpectation] = (),
               queues: dict[str, tuple[int, int]] | None = None) -> Truth:
    """Every job created since `since` (epoch seconds) with its attempts, every invoice, the sink's subjects."""
    with psycopg.connect(dsn, row_factory=dict_row, connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT j.id::text AS id, j.kind, j.state, j.attempts, j.worker_lost, j.error, j.result, "
            "j.idempotency_key, j.params->>'notes' AS notes, j.params->>'invoice_id' AS invoice_id, j.created_at, "
            "j.finished_at, coalesce(j.params->>'send_email', 'false') = 'true' AS wants_email, "
            "coalesce(array_agg(a.outcome ORDER BY a.number) FILTER (WHERE a.number IS NOT NULL), '{}') AS outcomes "
            "FROM jobs j LEFT JOIN job_attempts a ON a.job_id = j.id WHERE j.created_at >= to_timestamp(%s) "
            "GROUP BY j.id", (since,)).fetchall()
        invoices = conn.execute(
            "SELECT id::text AS id, number, job_id::text AS job_id, notes, pdf_path FROM invoices").fetchall()
        in_range = 0
        for expected in imports:
            in_range += conn.execute("SELECT count(*) AS n FROM orders WHERE order_id >= %s AND order_id < %s",
                                     (expected.first_id, expected.first_id + expected.rows)).fetchone()["n"]  # type: ignore[index]
    jobs = {row["id"]: JobRow(
        id=row["id"], kind=row["kind"], state=row["state"], attempts=row["attempts"],
        attempt_rows=len(row["outcomes"]), outcomes=tuple(row["outcomes"]), worker_lost=row["worker_lost"],
        error=row["error"], result=row["result"], key=row["idempotency_key"], notes=row["notes"],
        invoice_id=row["invoice_id"], wants_email=row["wants_email"], created_at=row["created_at"].timestamp(),
        finished_at=_epoch(row["finished_at"])) for row in rows}
    counted: Counter[str] = Counter()
    for subject in emails:
        match = SUBJECT_NUMBER.search(subject)
        if match:
            counted[match[1]] += 1
    return Truth(jobs=jobs, invoices=[InvoiceRow(**row) for row in invoices], emails=counted,
                 orders_in_range=in_range, queues=queues or {})


def wait_settled(check: Callable[[], Truth], window_s: float) -> Truth:
    """Read the truth until every job is finished and the task queues are empty, or the window has passed."""
    deadline = time.monotonic() + window_s
    while True:
        truth = check()
        unfinished = [job for job in truth.jobs.values() if job.state not in TERMINAL]
        left = [q for q in TASK_QUEUES if any(truth.queues.get(q, (0, 0)))]
        if (not unfinished and not left) or time.monotonic() > deadline:
            return truth
        time.sleep(2.0)
