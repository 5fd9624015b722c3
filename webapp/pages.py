"""Pages for people; the job, invoice and import pages join this blueprint as they land."""
from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import func, select

from jobs.models import Job
from jobs.states import JobState
from webapp.runtime import runtime

bp = Blueprint("pages", __name__)


@bp.get("/")
def home() -> str:
    with runtime().db.read_session() as session:
        counts = dict(session.execute(select(Job.state, func.count()).group_by(Job.state)).all())
    states = [(state.value, counts.get(state.value, 0)) for state in JobState]
    return render_template("home.html", states=states)
