"""Recurring jobs with two real `celery beat` processes: every period exactly one job, each run once."""
from __future__ import annotations

import sys
import time
import uuid
from datetime import datetime
from itertools import pairwise

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from jobs.models import Job
from jobs.schedule_models import ScheduleRun
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
    assert html.count("<time ") == 5  # its next five run times


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
