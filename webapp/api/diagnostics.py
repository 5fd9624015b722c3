"""Submitting diagnostic jobs."""
from __future__ import annotations

from flask import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from accounts.roles import Role
from jobs.enqueue import submit_job
from webapp.access import current_actor, requires
from webapp.api.jobs import accepted
from webapp.api.requests import json_body
from webapp.rate_limits import submit_rate_limits
from webapp.runtime import runtime

bp = Blueprint("diagnostics_api", __name__, url_prefix="/api/diagnostics")


class SleepRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    seconds: float = Field(1.0, ge=0, le=3600, description="total time to sleep")
    fail_times: int = Field(0, ge=0, le=100, description="fail transiently on this many first attempts")
    steps: int = Field(1, ge=1, le=1000, description="progress checkpoints")


@bp.post("/sleep")
@requires(Role.OPERATOR)
@submit_rate_limits
def submit_sleep() -> Response:
    body = json_body(SleepRequest)
    rt = runtime()
    with rt.db.transaction() as session:
        job, message = submit_job(session, "diagnostics.sleep", body.model_dump(), actor=current_actor())
    rt.publisher.publish_after_commit(message)
    return accepted(job)
