"""Pages for people: the home page, the job list and the live job page with cancel and retry."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import Blueprint, redirect, render_template, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from accounts.roles import Role
from jobs.db import utcnow
from jobs.kinds import declared_kinds
from jobs.models import Job
from jobs.states import JobState
from webapp.access import requires
from webapp.api.jobs import cancel
from webapp.api.requests import query_args
from webapp.formatting import seconds_text
from webapp.overview import overview
from webapp.pages.outcome import flash_outcome
from webapp.queries import count_jobs, find_jobs, get_job_or_404
from webapp.runtime import runtime
from webapp.schemas.jobs import JobListQuery
from webapp.serializers import job_to_dict
from webapp.submit import retry

bp = Blueprint("pages", __name__)


@bp.app_context_processor
def navigation_links() -> dict[str, str]:
    settings = runtime().settings
    return {"flower_url": settings.flower_public_url or "/flower/"}


@bp.app_template_filter("age")
def age(moment: str | datetime | None) -> str:
    """'42 s', '3 min', '5 h', '2 d' since `moment` (an ISO string or datetime)."""
    if moment is None:
        return "—"
    when = datetime.fromisoformat(moment.replace("Z", "+00:00")) if isinstance(moment, str) else moment
    return seconds_text((utcnow() - when).total_seconds())


bp.add_app_template_filter(seconds_text, "seconds")


def duration_s(job: Job) -> float | None:
    if job.started_at is None:
        return None
    return ((job.finished_at or utcnow()) - job.started_at).total_seconds()


@bp.get("/")
def home() -> str:
    """Counts per state, queue depths and the outbox backlog; static/home.js refreshes them."""
    return render_template("home.html", overview=overview(runtime()))


@bp.get("/jobs")
def list_jobs() -> str:
    query = query_args(JobListQuery, drop_empty=True)
    page, next_cursor = find_jobs(query)
    rows = [(job_to_dict(job), duration_s(job)) for job in page]
    return render_template("jobs.html", rows=rows, next_cursor=next_cursor, query=query, filters=query.filters(),
                           count=count_jobs(query), states=[state.value for state in JobState],
                           kinds=list(declared_kinds()))


@bp.get("/jobs/<job_id>")
def job_page(job_id: str) -> str:
    """A job's state, progress, outcome and attempts; static/job_progress.js follows it live."""
    with runtime().db.read_session() as session:
        job = get_job_or_404(session, job_id)
        body = job_to_dict(job, attempts=list(job.attempt_history), audit_trail=list(job.audit_trail))
        # The jobs that subscribers of this job's events started (an invoice's email), and this job's own cause.
        follow_ups = list(session.scalars(select(Job).where(Job.caused_by == job.id).order_by(Job.created_at)))
        cause = str(job.caused_by) if job.caused_by else None
    return render_template("job.html", job=body, finished=JobState(body["state"]).finished, follow_ups=follow_ups,
                           cause=cause)


@bp.post("/jobs/<job_id>/cancel")
@requires(Role.OPERATOR)
def cancel_job(job_id: str) -> Response:
    return _act(job_id, cancel, "Cancellation requested.")


@bp.post("/jobs/<job_id>/retry")
@requires(Role.OPERATOR)
def retry_job(job_id: str) -> Response:
    return _act(job_id, retry, "The job is queued again as a new attempt.")


def _act(job_id: str, action: Callable[[str], Job], done: str) -> Response:
    def act() -> str:
        action(job_id)
        return done
    flash_outcome(act)
    return redirect(url_for("pages.job_page", job_id=job_id), 303)
