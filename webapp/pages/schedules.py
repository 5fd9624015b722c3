"""The Schedules page: each schedule with its next five run times in its zone and its last runs."""
from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import select

from jobs.schedule_models import Schedule
from webapp.api.schedules import schedule_to_dict
from webapp.runtime import runtime

bp = Blueprint("schedule_pages", __name__)


@bp.get("/schedules")
def list_schedules() -> str:
    with runtime().db.read_session() as session:
        schedules = [schedule_to_dict(session, schedule)
                     for schedule in session.scalars(select(Schedule).order_by(Schedule.name))]
    return render_template("schedules.html", schedules=schedules)
