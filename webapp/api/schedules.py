"""Recurring jobs: create, read, pause, resume, run now and delete schedules (operators); `celery beat`
with tasks.beat:DatabaseScheduler submits their periods (jobs/scheduler.py)."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Literal

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accounts.roles import Role
from jobs.db import utcnow
from jobs.kinds import declared_kinds
from jobs.schedule_models import Schedule, ScheduleRun
from jobs.schedule_rules import RuleError, parse_rule
from webapp.access import requires
from webapp.api.jobs import accepted
from webapp.api.requests import json_body
from webapp.errors import ApiError
from webapp.runtime import runtime
from webapp.serializers import iso, job_url
from webapp.submit import submit

bp = Blueprint("schedules_api", __name__, url_prefix="/api/schedules")

MAX_PARAMS_BYTES = 16 * 1024
RECENT_RUNS = 20


class NewSchedule(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    kind: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)
    rule: str = Field(min_length=1, max_length=100)
    timezone: str = Field("UTC", min_length=1, max_length=64)
    enabled: bool = True
    overlap: Literal["skip", "allow"] = "skip"
    catch_up: Literal["latest", "none"] = "latest"
    deadline_s: int | None = Field(None, ge=1, le=366 * 86400)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in declared_kinds():
            raise ValueError(f"unknown job kind; known: {', '.join(sorted(declared_kinds()))}")
        return value

    @field_validator("params")
    @classmethod
    def _small(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value)) > MAX_PARAMS_BYTES:
            raise ValueError(f"at most {MAX_PARAMS_BYTES // 1024} KB of JSON")
        return value


def schedule_to_dict(session: Session, schedule: Schedule, *, runs: bool = True) -> dict[str, Any]:
    rule = parse_rule(schedule.rule, schedule.timezone)
    body: dict[str, Any] = {
        "id": schedule.id, "name": schedule.name, "kind": schedule.kind, "params": schedule.params,
        "rule": schedule.rule, "timezone": schedule.timezone, "enabled": schedule.enabled,
        "overlap": schedule.overlap, "catch_up": schedule.catch_up, "deadline_s": schedule.deadline_s,
        "created_at": iso(schedule.created_at),
        "next_runs": [start.astimezone(rule.zone).isoformat() for start in rule.next_runs(utcnow())],
    }
    if runs:
        recent = session.scalars(select(ScheduleRun).where(ScheduleRun.schedule_id == schedule.id)
                                 .order_by(ScheduleRun.period_start.desc()).limit(RECENT_RUNS))
        body["runs"] = [{"period_start": iso(run.period_start), "outcome": run.outcome, "reason": run.reason,
                         "job": job_url(run.job_id) if run.job_id else None} for run in recent]
    return body


def schedule_or_404(session: Session, schedule_id: int) -> Schedule:
    schedule = session.get(Schedule, schedule_id)
    if schedule is None:
        raise ApiError(404, f"no schedule with id {schedule_id}")
    return schedule


@bp.get("")
def list_schedules() -> Response:
    with runtime().db.read_session() as session:
        schedules = session.scalars(select(Schedule).order_by(Schedule.name))
        return jsonify({"items": [schedule_to_dict(session, s, runs=False) for s in schedules]})


@bp.post("")
@requires(Role.OPERATOR)
def create_schedule() -> tuple[Response, int]:
    body = json_body(NewSchedule)
    try:
        parse_rule(body.rule, body.timezone)
    except RuleError as error:
        raise ApiError(422, "invalid request", [{"field": error.field, "reason": error.reason}]) from None
    try:
        with runtime().db.transaction() as session:
            # Periods count from now: a new schedule does not catch up on its past.
            schedule = Schedule(**body.model_dump(), created_at=utcnow() - timedelta(microseconds=1))
            session.add(schedule)
            session.flush()
            payload = schedule_to_dict(session, schedule)
    except IntegrityError:
        raise ApiError(409, f"a schedule named {body.name!r} exists",
                       [{"field": "name", "reason": "taken"}]) from None
    return jsonify(payload), 201


@bp.get("/<int:schedule_id>")
def get_schedule(schedule_id: int) -> Response:
    with runtime().db.read_session() as session:
        return jsonify(schedule_to_dict(session, schedule_or_404(session, schedule_id)))


def _set_enabled(schedule_id: int, enabled: bool) -> Response:
    with runtime().db.transaction() as session:
        schedule = schedule_or_404(session, schedule_id)
        schedule.enabled = enabled
        session.flush()
        return jsonify(schedule_to_dict(session, schedule))


@bp.post("/<int:schedule_id>/pause")
@requires(Role.OPERATOR)
def pause_schedule(schedule_id: int) -> Response:
    """No period is submitted while paused; on resume the missed ones are dealt with by its catch-up policy."""
    return _set_enabled(schedule_id, False)


@bp.post("/<int:schedule_id>/resume")
@requires(Role.OPERATOR)
def resume_schedule(schedule_id: int) -> Response:
    return _set_enabled(schedule_id, True)


@bp.post("/<int:schedule_id>/run-now")
@requires(Role.OPERATOR)
def run_schedule_now(schedule_id: int) -> Response:
    """Submit the schedule's job at once, outside its periods (recorded with the caller in the job's audit)."""
    with runtime().db.read_session() as session:
        schedule = schedule_or_404(session, schedule_id)
        kind, params = schedule.kind, dict(schedule.params)
    job, _new = submit(declared_kinds()[kind], params)
    return accepted(job)


@bp.delete("/<int:schedule_id>")
@requires(Role.OPERATOR)
def delete_schedule(schedule_id: int) -> tuple[str, int]:
    with runtime().db.transaction() as session:
        schedule_or_404(session, schedule_id)
        session.execute(delete(Schedule).where(Schedule.id == schedule_id))
    return "", 204
