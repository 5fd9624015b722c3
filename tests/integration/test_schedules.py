"""Recurring jobs with two real `celery beat` processes: every period exactly one job, each run once."""
from __future__ import annotations

import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from jobs.models import Job
from jobs.schedule_models import Schedule, ScheduleAuditEntry, ScheduleRun
from tests.conftest import Stack
from tests.integration.test_api import assert_error
from tests.integration.test_sign_in import sign_in
from tests.support.processes import CeleryWorker, ManagedProcess, wait_for

pytestmark = pytest.mark.integration

PERIOD_S = 2


def beat(stack: Stack) -> ManagedProcess:
    return stack.process([sys.executable, "-m", "celery", "-A", "tasks.worker", "beat",
                          "--scheduler", "tasks.beat:DatabaseScheduler", "-l", "INFO"], "beat").start()


def recorded(stack: Stack, schedule_id: int) -> list[ScheduleRun]:
    with stack.db.read_session() as session:
        return list(session.scalars(select(ScheduleRun).where(ScheduleRun.schedule_id == schedule_id)
                                    .order_by(ScheduleRun.period_start)))


def test_two_beats_submit_every_period_exactly_once_through_a_crash_and_a_pause(
    stack: Stack, client: FlaskClient, worker: CeleryWorker
) -> None:
    created = client.post("/api/schedules", json={"name": f"ticker-{uuid.uuid4().hex[:6]}",
                                                  "kind": "diagnostics.noop", "rule": f"every {PERIOD_S} seconds",
                                                  "timezone": "Europe/Madrid", "overlap": "allow"})
    assert created.status_code == 201, created.get_data(as_text=True)
    schedule = created.get_json()
    assert len(schedule["next_runs"]) == 5 and schedule["next_runs"][0].endswith(("+01:00", "+02:00"))
    first, second = beat(stack), beat(stack)
    try:
        wait_for(lambda: len(recorded(stack, schedule["id"])) >= 4, 30, interval=0.5, what="four periods")
        first.kill_all()  # a beat killed mid-run; the other goes on
        time.sleep(PERIOD_S * 2)
        first = beat(stack)
        wait_for(lambda: len(recorded(stack, schedule["id"])) >= 8, 30, interval=0.5, what="eight periods")
        assert client.post(f"/api/schedules/{schedule['id']}/pause").status_code == 200
        paused_at = datetime.now().astimezone()
        time.sleep(PERIOD_S * 2.5)
    finally:
        first.stop()
        second.stop()

    runs = recorded(stack, schedule["id"])
    starts = [run.period_start for run in runs]
    assert len(starts) == len(set(starts))  # no period twice
    gaps = {(later - earlier).total_seconds() for earlier, later in pairwise(starts)}
    assert gaps == {PERIOD_S}  # and none lost
    # Periods that passed before the first beat was up are recorded as skipped; from then on each is a job.
    first_submitted = next(i for i, run in enumerate(runs) if run.outcome == "submitted")
    assert all(run.outcome == "skipped" for run in runs[:first_submitted])
    runs = runs[first_submitted:]
    assert len(runs) >= 6 and all(run.outcome == "submitted" and run.job_id for run in runs)
    assert all(start <= paused_at for start in starts)  # a paused schedule sends nothing
    ids = [run.job_id for run in runs]
    wait_for(lambda: all(state == "succeeded" for state in job_states(stack, ids).values()), 60, interval=0.5,
             what="every scheduled job to succeed")
    assert set(attempts(stack, ids).values()) == {1}  # each ran once

    page = client.get(f"/api/schedules/{schedule['id']}").get_json()
    assert page["enabled"] is False and page["runs"][0]["job"].startswith("/api/jobs/")
    html = schedules_page(stack).split(f'id="schedule-{schedule["id"]}"')[1].split("</section>")[0]
    assert schedule["name"] in html and "paused" in html and str(runs[-1].job_id)[:8] in html
    assert html.split("<h3>Last runs")[0].count("<time ") == 5  # its next five run times


def schedules_page(stack: Stack) -> str:
    person = stack.account("viewer")
    browser = stack.app().test_client()
    assert sign_in(browser, person.email, person.password).status_code == 302
    response = browser.get("/schedules")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def job_states(stack: Stack, ids: list[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    with stack.db.read_session() as session:
        return {job.id: job.state for job in session.scalars(select(Job).where(Job.id.in_(ids)))}


def attempts(stack: Stack, ids: list[uuid.UUID | None]) -> dict[uuid.UUID, int]:
    with stack.db.read_session() as session:
        return {job.id: job.attempts for job in session.scalars(select(Job).where(Job.id.in_(ids)))}


@pytest.mark.parametrize(("body", "field"), [
    ({"rule": "61 * * * *"}, "rule"), ({"rule": "every 0 seconds"}, "rule"), ({"timezone": "Mars/Base"}, "timezone"),
    ({"kind": "no.such.kind"}, "kind"), ({"overlap": "sometimes"}, "overlap"), ({"deadline_s": 0}, "deadline_s"),
    ({"params": {"x": "y" * 20_000}}, "params"),
])
def test_a_bad_schedule_is_422_naming_the_field(client: FlaskClient, body: dict[str, object], field: str) -> None:
    request = {"name": f"bad-{uuid.uuid4().hex[:6]}", "kind": "diagnostics.noop", "rule": "0 3 * * *"} | body
    error = assert_error(client.post("/api/schedules", json=request), 422)
    assert error["fields"][0]["field"] == field


def test_run_now_submits_a_job_and_a_name_is_unique(client: FlaskClient, worker: CeleryWorker) -> None:
    name = f"monthly-{uuid.uuid4().hex[:6]}"
    created = client.post("/api/schedules", json={"name": name, "kind": "diagnostics.noop", "rule": "0 2 1 * *",
                                                  "timezone": "Europe/Madrid", "enabled": False})
    assert created.status_code == 201
    assert created.get_json()["next_runs"][0][8:16] == "01T02:00"  # the 1st at 02:00 Madrid time
    assert assert_error(client.post("/api/schedules", json={"name": name, "kind": "diagnostics.noop",
                                                            "rule": "0 2 1 * *"}), 409)["fields"][0]["field"] == "name"
    job = client.post(f"/api/schedules/{created.get_json()['id']}/run-now")
    assert job.status_code == 202
    assert client.delete(f"/api/schedules/{created.get_json()['id']}").status_code == 204
    assert client.get(f"/api/schedules/{created.get_json()['id']}").status_code == 404


def create(client: FlaskClient, **fields: object) -> dict:
    body = {"name": f"s-{uuid.uuid4().hex[:6]}", "kind": "diagnostics.noop", "rule": "0 3 * * *"} | fields
    response = client.post("/api/schedules", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return dict(response.get_json())


def test_overlap_skip_never_starts_a_period_while_the_previous_slow_job_runs(
    stack: Stack, client: FlaskClient, worker: CeleryWorker
) -> None:
    schedule = create(client, kind="diagnostics.sleep", params={"seconds": 5}, rule=f"every {PERIOD_S} seconds")
    assert schedule["params"] == {"seconds": 5, "fail_times": 0, "steps": 1, "ignore_soft_limit": False}  # defaults
    runner = beat(stack)
    try:
        wait_for(lambda: sum(run.outcome == "submitted" for run in recorded(stack, schedule["id"])) >= 3, 60,
                 interval=0.5, what="three slow jobs")
    finally:
        client.post(f"/api/schedules/{schedule['id']}/pause")
        runner.stop()
    runs = recorded(stack, schedule["id"])
    overlapped = [run for run in runs if run.outcome == "skipped" and "overlap" in (run.reason or "")]
    assert overlapped, [(run.outcome, run.reason) for run in runs]
    submitted = [run.job_id for run in runs if run.outcome == "submitted"]
    wait_for(lambda: all(state == "succeeded" for state in job_states(stack, submitted).values()), 60,
             interval=0.5, what="the slow jobs to finish")
    with stack.db.read_session() as session:
        jobs = {job.id: job for job in session.scalars(select(Job).where(Job.id.in_(submitted)))}
    for earlier, later in pairwise(submitted):
        assert earlier and later
        finished = jobs[earlier].finished_at
        assert finished is not None and jobs[later].created_at >= finished  # never two at once


def test_after_a_long_downtime_a_beat_runs_the_latest_period_once_and_records_the_rest_as_skipped(
    stack: Stack, client: FlaskClient, worker: CeleryWorker
) -> None:
    schedule = create(client, rule="every 1 minute", overlap="allow")
    last = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    with stack.db.transaction() as session:  # the database says its last run was half an hour ago
        session.add(ScheduleRun(schedule_id=schedule["id"], period_start=last, outcome="submitted"))
        row = session.get(Schedule, schedule["id"])
        assert row is not None
        row.counts_from = last
    runner = beat(stack)
    try:
        wait_for(lambda: any(run.outcome != "submitted" or run.job_id for run in recorded(stack, schedule["id"])
                             if run.period_start > last), 30, interval=0.5, what="the beat to catch up")
        time.sleep(2)  # a few more ticks: nothing more is owed within this minute
    finally:
        client.post(f"/api/schedules/{schedule['id']}/pause")
        runner.stop()
    runs = [run for run in recorded(stack, schedule["id"]) if run.period_start > last]
    assert [run.outcome for run in runs] == ["skipped"] * (len(runs) - 1) + ["submitted"]
    assert len(runs) in (30, 31)  # each minute since, once (31 if a minute turned during the test)
    assert {(b.period_start - a.period_start).total_seconds() for a, b in pairwise(runs)} == {60}
    assert all(run.reason == "missed while no scheduler ran" for run in runs[:-1])
    wait_for(lambda: job_states(stack, [runs[-1].job_id]).get(runs[-1].job_id) == "succeeded", 30,
             what="the caught-up job")


def test_changes_pauses_and_runs_are_audited_and_shown_with_the_actions_on_the_page(
    stack: Stack, client: FlaskClient, worker: CeleryWorker
) -> None:
    schedule = create(client, rule="0 2 1 * *", timezone="Europe/Madrid", kind="invoice.batch", enabled=False,
                      params={"period_start": "${previous_month_start}", "period_end": "${previous_month_end}",
                              "send_email": False})
    url = f"/api/schedules/{schedule['id']}"
    changed = client.patch(url, json={"rule": "30 2 1 * *", "deadline_s": 3600})
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert changed.get_json()["next_runs"][0][8:16] == "01T02:30" and changed.get_json()["deadline_s"] == 3600
    assert client.patch(url, json={"deadline_s": None}).get_json()["deadline_s"] is None
    job = client.post(f"{url}/run-now")
    assert job.status_code == 202
    today = datetime.now(ZoneInfo("Europe/Madrid")).date()
    previous_month_end = today.replace(day=1) - timedelta(days=1)
    assert job.get_json()["params"] == {"period_start": previous_month_end.replace(day=1).isoformat(),
                                        "period_end": previous_month_end.isoformat(), "send_email": False}

    person = stack.account("operator")
    browser = stack.app().test_client()
    assert sign_in(browser, person.email, person.password).status_code == 302
    page = browser.get("/schedules").get_data(as_text=True)
    section = page.split(f'id="schedule-{schedule["id"]}"')[1].split("</section>")[0]
    assert "Resume" in section and "Run now" in section
    token = section.split('name="csrf_token" value="')[1].split('"')[0]
    resumed = browser.post(f"/schedules/{schedule['id']}/resume", data={"csrf_token": token})
    assert resumed.status_code == 303
    assert client.get(url).get_json()["enabled"] is True
    assert client.post(f"{url}/pause").status_code == 200

    audit = client.get(url).get_json()["audit"]
    assert [entry["action"] for entry in reversed(audit)] == [
        "created", "changed", "changed", "ran now", "resumed", "paused"]
    assert audit[-2]["detail"]["changed"]["rule"] == ["0 2 1 * *", "30 2 1 * *"]
    assert audit[2]["detail"]["job_id"] == job.get_json()["id"] and audit[1]["actor"] == person.email
    html = browser.get("/schedules").get_data(as_text=True).split(f'id="schedule-{schedule["id"]}"')[1]
    assert "ran now" in html and job.get_json()["id"][:8] in html and "0 2 1 * *" in html

    assert client.delete(url).status_code == 204
    with stack.db.read_session() as session:  # the trail outlives the schedule
        actions = session.scalars(select(ScheduleAuditEntry.action).where(
            ScheduleAuditEntry.schedule_id == schedule["id"]).order_by(ScheduleAuditEntry.id))
        assert list(actions)[-1] == "deleted"


@pytest.mark.parametrize(("change", "field"), [
    ({"rule": "every 0 seconds"}, "rule"),
    ({"kind": "etl.import"}, "kind"),
    ({"params": {"period_start": "${last_month}", "period_end": "2026-01-31"}}, "params.period_start"),
    ({"params": {"period_start": "${previous_month_end}", "period_end": "${previous_month_start}"}},
     "params.period_end"),
    ({"params": {"period_start": "2026-01-01"}}, "params.period_end"),
    ({"colour": "red"}, "colour"),
])
def test_a_bad_change_is_422_naming_the_field_and_changes_nothing(
    client: FlaskClient, change: dict[str, object], field: str
) -> None:
    schedule = create(client, kind="invoice.batch", enabled=False,
                      params={"period_start": "${previous_month_start}", "period_end": "${previous_month_end}"})
    error = assert_error(client.patch(f"/api/schedules/{schedule['id']}", json=change), 422)
    assert error["fields"][0]["field"] == field
    after = client.get(f"/api/schedules/{schedule['id']}").get_json()
    assert {k: after[k] for k in ("rule", "kind", "params")} == {k: schedule[k] for k in ("rule", "kind", "params")}
    assert [entry["action"] for entry in after["audit"]] == ["created"]


def test_the_ready_monthly_invoice_schedule_is_off_and_bills_the_previous_month(client: FlaskClient) -> None:
    ready = next(s for s in client.get("/api/schedules").get_json()["items"] if s["name"] == "monthly-invoices")
    assert ready["enabled"] is False and ready["kind"] == "invoice.batch"
    assert all(start[8:19] == "01T02:00:00" for start in ready["next_runs"])  # the 1st, 02:00 Madrid time
    assert ready["params"]["period_start"] == "${previous_month_start}"
