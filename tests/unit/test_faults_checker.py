"""The fault suite's checker: its arithmetic over answers and the truth, on hand-made rows (no services)."""
from __future__ import annotations

from collections import Counter

from faults.checker import ImportExpectation, InvoiceRow, JobRow, Truth, number_gaps, reason, recovery_s, tally
from faults.workload import Answer


def job(id_: str, kind: str = "invoice.create", state: str = "succeeded", *, outcomes: tuple[str, ...] = ("succeeded",),
        notes: str | None = None, key: str | None = None, result: dict | None = None, invoice_id: str | None = None,
        created: float = 100.0, finished: float | None = 110.0, error: dict | None = None,
        wants_email: bool = False) -> JobRow:
    return JobRow(id=id_, kind=kind, state=state, attempts=len(outcomes), attempt_rows=len(outcomes),
                  outcomes=outcomes, worker_lost=outcomes.count("lost"), error=error, result=result, key=key,
                  notes=notes, invoice_id=invoice_id, wants_email=wants_email, created_at=created, finished_at=finished)


def invoice(number: str, job_id: str, notes: str, id_: str | None = None) -> InvoiceRow:
    return InvoiceRow(id=id_ or f"inv-{job_id}", number=number, job_id=job_id, notes=notes, pdf_path=f"/{number}.pdf")


def accepted(job_id: str, marker: str, kind: str = "invoice", key: str | None = None) -> Answer:
    return Answer(kind, marker, 202, job_id=job_id, key=key)


def test_a_clean_run_counts_accepted_succeeded_and_nothing_else() -> None:
    truth = Truth(jobs={"j1": job("j1", notes="m1", result={"invoice_id": "inv-j1"}),
                        "e1": job("e1", "invoice.email", invoice_id="inv-j1"),
                        "s1": job("s1", "diagnostics.sleep")},
                  invoices=[invoice("INV-2026-000001", "j1", "m1")], emails=Counter({"INV-2026-000001": 1}))
    out = tally([accepted("j1", "m1"), accepted("s1", "x", "sleep")], truth, pdf_ok=lambda _path: True)
    assert (out.accepted, out.succeeded, out.lost, dict(out.duplicates), out.problems) == (2, 3, [], {}, [])
    assert out.passed


def test_an_accepted_job_never_finished_or_missing_is_lost() -> None:
    truth = Truth(jobs={"s1": job("s1", "diagnostics.sleep", "running", outcomes=("lost", "running"), finished=None)},
                  invoices=[], emails=Counter())
    out = tally([accepted("s1", "a", "sleep"), accepted("s2", "b", "sleep")], truth)
    assert len(out.lost) == 2 and not out.passed
    assert "no job row" in out.lost[0] and "still running" in out.lost[1]


def test_two_invoices_for_one_request_and_an_email_sent_twice_are_duplicates_of_their_kind() -> None:
    truth = Truth(jobs={"j1": job("j1", notes="m1", result={"invoice_id": "inv-j1"}),
                        "j2": job("j2", notes="m1"),
                        "e1": job("e1", "invoice.email", outcomes=("lost", "succeeded"), invoice_id="inv-j1")},
                  invoices=[invoice("INV-2026-000001", "j1", "m1"), invoice("INV-2026-000002", "j2", "m1")],
                  emails=Counter({"INV-2026-000001": 2}))
    out = tally([accepted("j1", "m1")], truth)
    assert out.duplicates == Counter({"invoice": 1, "job": 1, "email": 1})
    assert out.hard_duplicates == 2 and not out.passed
    assert "worker was lost" in out.duplicate_reasons[0]


def test_email_duplicates_alone_do_not_fail_a_scenario() -> None:
    truth = Truth(jobs={"j1": job("j1", notes="m1", result={"invoice_id": "inv-j1"}),
                        "e1": job("e1", "invoice.email", outcomes=("lost", "succeeded"), invoice_id="inv-j1")},
                  invoices=[invoice("INV-2026-000001", "j1", "m1")], emails=Counter({"INV-2026-000001": 3}))
    out = tally([accepted("j1", "m1")], truth)
    assert out.duplicates == Counter({"email": 2}) and out.passed


def test_a_refusal_whose_job_exists_is_half_accepted() -> None:
    truth = Truth(jobs={"j1": job("j1", notes="m1", state="failed", outcomes=("failed",), error={"type": "X"})},
                  invoices=[], emails=Counter())
    out = tally([Answer("invoice", "m1", 503, retry_after="2")], truth)
    assert out.refused == Counter({"503 +Retry-After": 1})
    assert out.failed == Counter({"invoice.create: X: ": 1})
    assert any("half-accepted" in p for p in out.problems)


def test_an_unanswered_submit_whose_job_exists_is_followed_to_its_end() -> None:
    truth = Truth(jobs={"j1": job("j1", notes="m1", state="queued", outcomes=(), finished=None)},
                  invoices=[], emails=Counter())
    out = tally([Answer("invoice", "m1", None, error="ConnectionResetError")], truth)
    assert out.unanswered == 1 and out.refused == Counter({"no answer": 1})
    assert out.lost == ["invoice.create j1: still queued after the recovery window"]


def test_gaps_and_reuse_in_a_series_are_found_per_series() -> None:
    assert number_gaps(["INV-2026-000001", "INV-2026-000002", "INV-2025-000001"]) == []
    assert number_gaps(["INV-2026-000001", "INV-2026-000003", "INV-2026-000003"]) == [
        "INV-2026-000003 used 2 times", "series INV-2026: 1 numbers missing, first [2]"]


def test_import_rows_missing_or_doubled_against_the_file() -> None:
    imports = [(accepted("i1", "f.csv", "import"), ImportExpectation(first_id=1, rows=1000))]
    jobs = {"i1": job("i1", "etl.import", result={"rows_loaded": 1000})}
    short = tally([], Truth(jobs=jobs, invoices=[], emails=Counter(), orders_in_range=990), imports=imports)
    assert short.lost == ["import i1: 990 of the file's 1000 rows in the table"]
    doubled = tally([], Truth(jobs={"i1": job("i1", "etl.import", result={"rows_loaded": 1500})}, invoices=[],
                              emails=Counter(), orders_in_range=1000), imports=imports)
    assert doubled.duplicates == Counter({"row (counted)": 500}) and not doubled.passed


def test_messages_left_on_a_task_queue_with_every_job_finished_are_a_problem() -> None:
    out = tally([], Truth(jobs={}, invoices=[], emails=Counter(), queues={"invoices": (0, 2), "invoices.dead": (3, 0)}))
    assert out.problems == ["queue invoices: 0 ready and 2 unacknowledged messages left with every job finished"]


def test_recovery_is_measured_from_the_undoing_to_the_last_outcome_of_an_earlier_job() -> None:
    jobs = [job("a", created=10, finished=25), job("b", created=12, finished=31.5), job("c", created=40, finished=99)]
    assert recovery_s(jobs, undone_at=20.0) == 11.5
    assert recovery_s(jobs[:1], undone_at=30.0) == 0.0
    assert recovery_s(jobs, undone_at=None) is None


def test_failure_reasons_drop_ids_and_numbers() -> None:
    assert reason({"type": "TransientError", "message": "planned transient failure 2 of 3"}) == \
        "TransientError: planned transient failure N of N"
    assert reason(None) == "unknown"


def test_an_invoice_that_asked_for_an_email_and_never_got_an_email_job_has_lost_it() -> None:
    truth = Truth(jobs={"j1": job("j1", notes="m1", result={"invoice_id": "inv-j1"}, wants_email=True)},
                  invoices=[invoice("INV-2026-000001", "j1", "m1")], emails=Counter())
    out = tally([accepted("j1", "m1")], truth)
    assert out.lost == ["email of INV-2026-000001: asked for, and no email job was ever started"]


def test_an_email_job_that_succeeded_without_the_sink_receiving_anything_lost_its_email() -> None:
    truth = Truth(jobs={"j1": job("j1", notes="m1", result={"invoice_id": "inv-j1"}, wants_email=True),
                        "e1": job("e1", "invoice.email", invoice_id="inv-j1")},
                  invoices=[invoice("INV-2026-000001", "j1", "m1")], emails=Counter())
    out = tally([accepted("j1", "m1")], truth)
    assert out.lost == ["email of INV-2026-000001: its job succeeded but the SMTP sink received nothing"]


def test_raced_submits_of_one_request_count_each_extra_job_and_invoice_once() -> None:
    raced = [Answer("invoice", "m1", 202, job_id="j1", key="k"), Answer("invoice", "m1", 202, job_id="j2", key="k"),
             Answer("invoice", "m1", 409, key="k")]
    truth = Truth(jobs={"j1": job("j1", notes="m1", key="k"), "j2": job("j2", notes="m1", key="k2")},
                  invoices=[invoice("INV-2026-000001", "j1", "m1"), invoice("INV-2026-000002", "j2", "m1")],
                  emails=Counter())
    out = tally(raced, truth)
    assert out.duplicates == Counter({"job": 1, "invoice": 1})
    assert out.refused == Counter({"409": 1}) and out.accepted == 2
