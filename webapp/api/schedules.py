"""Recurring jobs: create, read, change, pause, resume, run now and delete schedules (operators);
`celery beat` with tasks.beat:DatabaseScheduler submits their periods (jobs/scheduler.py)."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import select

from accounts.roles import Role
from jobs.schedule_models import Schedule
from webapp import schedule_service as schedules
from webapp.access import requires
from webapp.api.jobs import accepted
from webapp.api.requests import json_body
from webapp.runtime import runtime
from webapp.schedule_service import NewSchedule, ScheduleChange, schedule_or_404, schedule_to_dict

bp = Blueprint("schedules_api", __name__, url_prefix="/api/schedules")


@bp.get("")
def list_schedules() -> Response:
    with runtime().db.read_session() as session:
        found = session.scalars(select(Schedule).order_by(Schedule.name))
        return jsonify({"items": [schedule_to_dict(session, s, runs=False) for s in found]})


@bp.post("")
@requires(Role.OPERATOR)
def create_schedule() -> tuple[Response, int]:
    body = json_body(NewSchedule)  # 415/400 for a body that is not a JSON object; the fields are checked below
    return jsonify(schedules.create_schedule(body.model_dump())), 201


@bp.get("/<int:schedule_id>")
def get_schedule(schedule_id: int) -> Response:
    with runtime().db.read_session() as session:
        return jsonify(schedule_to_dict(session, schedule_or_404(session, schedule_id)))


@bp.patch("/<int:schedule_id>")
@requires(Role.OPERATOR)
def change_schedule(schedule_id: int) -> Response:
    """Change any field; a new rule or zone counts periods from now."""
    return jsonify(schedules.change_schedule(schedule_id, json_body(ScheduleChange)))


@bp.post("/<int:schedule_id>/pause")
@requires(Role.OPERATOR)
def pause_schedule(schedule_id: int) -> Response:
    """No period is submitted while paused."""
    return jsonify(schedules.set_enabled(schedule_id, False))


@bp.post("/<int:schedule_id>/resume")
@requires(Role.OPERATOR)
def resume_schedule(schedule_id: int) -> Response:
    """Periods count again from now; those that passed while paused are not owed."""
    return jsonify(schedules.set_enabled(schedule_id, True))


@bp.post("/<int:schedule_id>/run-now")
@requires(Role.OPERATOR)
def run_schedule_now(schedule_id: int) -> Response:
    """Submit the schedule's job at once, outside its periods (in the schedule's audit trail and the job's)."""
    return accepted(schedules.run_now(schedule_id))


@bp.delete("/<int:schedule_id>")
@requires(Role.OPERATOR)
def delete_schedule(schedule_id: int) -> tuple[str, int]:
    schedules.delete_schedule(schedule_id)
    return "", 204
