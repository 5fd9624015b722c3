"""The Schedules page: each schedule with its next five run times in its zone, its last runs and its
audit trail; operators pause, resume and run a schedule from it."""
from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, redirect, render_template, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from accounts.roles import Role
from jobs.schedule_models import Schedule
from webapp import schedule_service as schedules
from webapp.access import requires
from webapp.pages.outcome import flash_outcome
from webapp.runtime import runtime

bp = Blueprint("schedule_pages", __name__)


@bp.get("/schedules")
def list_schedules() -> str:
    with runtime().db.read_session() as session:
        found = [schedules.schedule_to_dict(session, schedule)
                 for schedule in session.scalars(select(Schedule).order_by(Schedule.name))]
    return render_template("schedules.html", schedules=found)


@bp.post("/schedules/<int:schedule_id>/pause")
@requires(Role.OPERATOR)
def pause_schedule(schedule_id: int) -> Response:
    return _set_enabled(schedule_id, False, "Paused: no period is submitted.")


@bp.post("/schedules/<int:schedule_id>/resume")
@requires(Role.OPERATOR)
def resume_schedule(schedule_id: int) -> Response:
    return _set_enabled(schedule_id, True, "Resumed: periods count from now.")


@bp.post("/schedules/<int:schedule_id>/run-now")
@requires(Role.OPERATOR)
def run_schedule_now(schedule_id: int) -> Response:
    def run() -> str:
        job = schedules.run_now(schedule_id)
        return f"Job {job.id} submitted."
    return _act(schedule_id, run)


def _set_enabled(schedule_id: int, enabled: bool, done: str) -> Response:
    def act() -> str:
        schedules.set_enabled(schedule_id, enabled)
        return done
    return _act(schedule_id, act)


def _act(schedule_id: int, action: Callable[[], str]) -> Response:
    flash_outcome(action)
    return redirect(url_for("schedule_pages.list_schedules", _anchor=f"schedule-{schedule_id}"), 303)
