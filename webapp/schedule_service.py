"""What operators do to schedules, for the API and the Schedules page alike: create, change, pause,
resume, run now and delete, each checked (422 naming the field) and written with an audit entry."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jobs.db import utcnow
from jobs.field_errors import FieldError
from jobs.kinds import declared_kinds
from jobs.models import AnyJob
from jobs.schedule_models import Schedule, ScheduleAuditEntry, ScheduleRun
from jobs.schedule_params import render_params
from jobs.schedule_rules import Rule, parse_rule
from webapp.access import current_actor
from webapp.errors import ApiError, validation_error
from webapp.runtime import runtime
from webapp.schemas.invoices import BatchBody
from webapp.schemas.jobs import SleepRequest
from webapp.serializers import iso, job_url
from webapp.submit import submit

MAX_PARAMS_BYTES = 16 * 1024
RECENT_RUNS = 20
RECENT_AUDIT = 20


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


# The kinds a schedule may run, each with the model its params must satisfy once the placeholders are
# filled in: the body of the kind's own submit endpoint. A kind that needs an upload (etl.import) or
# that only a batch starts (invoice.customer_batch, invoice.email) is not schedulable.
SCHEDULABLE: dict[str, type[BaseModel]] = {
    "invoice.batch": BatchBody,
    "diagnostics.sleep": SleepRequest,
    "diagnostics.noop": NoParams,
}


class NewSchedule(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    kind: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict, description="the kind's submit body; strings may hold "
                                   "placeholders such as ${previous_month_start} (jobs/schedule_params.py)")
    rule: str = Field(min_length=1, max_length=100)
    timezone: str = Field("UTC", min_length=1, max_length=64)
    enabled: bool = True
    overlap: Literal["skip", "allow"] = "skip"
    catch_up: Literal["latest", "none"] = "latest"
    deadline_s: int | None = Field(None, ge=1, le=366 * 86400)

    @field_validator("kind")
    @classmethod
    def _schedulable(cls, value: str) -> str:
        if value not in declared_kinds():
            raise ValueError(f"unknown job kind; schedulable: {', '.join(SCHEDULABLE)}")
        if value not in SCHEDULABLE:
            raise ValueError(f"{value} cannot be scheduled; schedulable: {', '.join(SCHEDULABLE)}")
        return value

    @field_validator("params")
    @classmethod
    def _small(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value)) > MAX_PARAMS_BYTES:
            raise ValueError(f"at most {MAX_PARAMS_BYTES // 1024} KB of JSON")
        return value


class ScheduleChange(BaseModel):
    """A PATCH: the fields given replace the schedule's (`deadline_s: null` removes the deadline)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    kind: str | None = None
    params: dict[str, Any] | None = None
    rule: str | None = None
    timezone: str | None = None
    enabled: bool | None = None
    overlap: str | None = None
    catch_up: str | None = None
    deadline_s: int | None = None


FIELDS = tuple(NewSchedule.model_fields)


def _invalid(field: str, reason: str) -> ApiError:
    return ApiError(422, "invalid request", [{"field": field, "reason": reason}])


def checked(values: dict[str, Any]) -> NewSchedule:
    """The schedule's fields validated together: the rule in its zone, and the params as the kind's job
    will receive them in its next period (missing optional params filled with their defaults)."""
    try:
        schedule = NewSchedule.model_validate(values)
    except ValidationError as error:
        raise validation_error(error) from None
    try:
        rule = parse_rule(schedule.rule, schedule.timezone)
        validated = SCHEDULABLE[schedule.kind].model_validate(_params_for(schedule.params, rule, utcnow()))
    except FieldError as error:  # the rule, the zone or a placeholder
        raise _invalid(error.field, error.reason) from None
    except ValidationError as error:
        item = error.errors()[0]
        field = ".".join(["params", *(str(part) for part in item["loc"])])
        raise _invalid(field, item["msg"].removeprefix("Value error, ")) from None
    defaults = validated.model_dump(mode="json")
    schedule.params = {**{k: v for k, v in defaults.items() if k not in schedule.params}, **schedule.params}
    return schedule


def _params_for(params: dict[str, Any], rule: Rule, now: datetime) -> dict[str, Any]:
    upcoming = rule.next_runs(now, 1)
    return render_params(params, upcoming[0] if upcoming else now, rule.zone)


def _audit(session: Session, schedule: Schedule, action: str, detail: dict[str, Any] | None = None) -> None:
    actor = current_actor()
    session.add(ScheduleAuditEntry(schedule_id=schedule.id, schedule_name=schedule.name, action=action,
                                   detail=detail or {}, actor=actor.name, via=actor.via, at=utcnow()))


def _name_taken(name: str) -> ApiError:
    return ApiError(409, f"a schedule named {name!r} exists", [{"field": "name", "reason": "taken"}])


def create_schedule(values: dict[str, Any]) -> dict[str, Any]:
    body = checked(values)
    now = utcnow()
    try:
        with runtime().db.transaction() as session:
            # Periods count from now: a new schedule does not catch up on its past.
            schedule = Schedule(**body.model_dump(), created_at=now, counts_from=now)
            session.add(schedule)
            session.flush()
            _audit(session, schedule, "created", {"fields": body.model_dump(mode="json")})
            session.flush()
            return schedule_to_dict(session, schedule)
    except IntegrityError:
        raise _name_taken(body.name) from None


def change_schedule(schedule_id: int, change: ScheduleChange) -> dict[str, Any]:
    """Apply a PATCH; a new rule or zone, or a resume, counts periods from now (nothing owed from before)."""
    given = change.model_dump(exclude_unset=True)
    try:
        with runtime().db.transaction() as session:
            schedule = schedule_or_404(session, schedule_id)
            current = {field: getattr(schedule, field) for field in FIELDS}
            merged = {**current, **{k: v for k, v in given.items() if v is not None or k == "deadline_s"}}
            body = checked(merged).model_dump()
            changed = {field: [current[field], body[field]] for field in FIELDS if current[field] != body[field]}
            if not changed:
                return schedule_to_dict(session, schedule)
            for field in changed:
                setattr(schedule, field, body[field])
            if {"rule", "timezone"} & changed.keys() or ("enabled" in changed and body["enabled"]):
                schedule.counts_from = utcnow()
            _audit(session, schedule, _action_of(changed), {"changed": changed})
            session.flush()
            return schedule_to_dict(session, schedule)
    except IntegrityError:
        raise _name_taken(str(given.get("name"))) from None


def _action_of(changed: dict[str, Any]) -> str:
    if changed.keys() == {"enabled"}:
        return "resumed" if changed["enabled"][1] else "paused"
    return "changed"


def set_enabled(schedule_id: int, enabled: bool) -> dict[str, Any]:
    """Pause (no period is submitted) or resume (periods count from now; those while paused are not owed)."""
    return change_schedule(schedule_id, ScheduleChange(enabled=enabled))


def run_now(schedule_id: int) -> AnyJob:
    """Submit the schedule's job at once, outside its periods, with the params of its next period."""
    with runtime().db.read_session() as session:
        schedule = schedule_or_404(session, schedule_id)
        rule = parse_rule(schedule.rule, schedule.timezone)
        kind, params = schedule.kind, render_params(schedule.params, utcnow(), rule.zone)
    job, _new = submit(declared_kinds()[kind], params,  # its audit entry in the job's own transaction
                       alongside=lambda session, job: _audit(session, schedule, "ran now", {"job_id": str(job.id)}))
    return job


def delete_schedule(schedule_id: int) -> None:
    """Delete the schedule and its run records (its jobs stay; its audit trail stays, with the deletion)."""
    with runtime().db.transaction() as session:
        schedule = schedule_or_404(session, schedule_id)
        _audit(session, schedule, "deleted")
        session.execute(delete(Schedule).where(Schedule.id == schedule_id))


def schedule_or_404(session: Session, schedule_id: int) -> Schedule:
    schedule = session.get(Schedule, schedule_id)
    if schedule is None:
        raise ApiError(404, f"no schedule with id {schedule_id}")
    return schedule


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
        # A SQLite id may be reused after a delete: the entries of an older schedule with this id predate it.
        audit = session.scalars(select(ScheduleAuditEntry).where(ScheduleAuditEntry.schedule_id == schedule.id,
                                                                 ScheduleAuditEntry.at >= schedule.created_at)
                                .order_by(ScheduleAuditEntry.id.desc()).limit(RECENT_AUDIT))
        body["audit"] = [{"at": iso(entry.at), "action": entry.action, "actor": entry.actor, "via": entry.via,
                          "detail": entry.detail} for entry in audit]
    return body
