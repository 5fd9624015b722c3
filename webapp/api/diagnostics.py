"""Submitting diagnostic jobs."""
from __future__ import annotations

from flask import Blueprint, Response

from accounts.roles import Role
from jobs import diagnostics
from webapp.access import requires
from webapp.api.jobs import accepted
from webapp.api.requests import json_body
from webapp.rate_limits import submit_rate_limits
from webapp.schemas.jobs import SleepRequest
from webapp.submit import submit

bp = Blueprint("diagnostics_api", __name__, url_prefix="/api/diagnostics")


@bp.post("/sleep")
@requires(Role.OPERATOR)
@submit_rate_limits
def submit_sleep() -> Response:
    job, _new = submit(diagnostics.sleep, json_body(SleepRequest).model_dump())
    return accepted(job)
