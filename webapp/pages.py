"""Pages for people; the job, invoice and import pages join this blueprint as they land."""
from __future__ import annotations

import uuid

from flask import Blueprint, abort, render_template
from sqlalchemy import func, select

from jobs.models import Job
from jobs.states import JobState
from webapp.runtime import runtime
from webapp.serializers import job_to_dict

bp = Blueprint("pages", __name__)


@bp.get("/")
def home() -> str:
    with runtime().db.read_session() as session:
        counts = dict(session.execute(select(Job.state, func.count()).group_by(Job.state)).all())
    states = [(state.value, counts.get(state.value, 0)) for state in JobState]
    return render_template("home.html", states=states)


@bp.get("/jobs/<job_id>")
def job_page(job_id: str) -> str:
    """A job's state, progress and outcome; static/job_progress.js keeps it current by polling the API."""
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        abort(404)
    with runtime().db.read_session() as session:
        job = session.get(Job, key)
        if job is None:
            abort(404)
        body = job_to_dict(job)
    return render_template("job.html", job=body)
