"""Many jobs at once, written with set-based SQL (PostgreSQL): finished jobs to read, queued ones to publish."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import select, text

from jobs.db import Database
from jobs.models import Job
from webapp.serializers import job_etag


def _json_type(db: Database) -> str:
    with db.read_session() as session:
        return str(session.execute(text(
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'jobs' AND column_name = 'params'"
        )).scalar_one())


def insert_finished_jobs(db: Database, count: int, tag: str) -> None:
    """`count` succeeded noop jobs with one attempt and a `submitted` audit entry each, as the API leaves them."""
    json = _json_type(db)
    with db.transaction() as session:
        session.execute(text(f"""
            INSERT INTO jobs (id, kind, state, queue, params, progress_done, attempts, worker_lost, cancel_requested,
                              result, submitted_by, created_at, started_at, finished_at, updated_at)
            SELECT gen_random_uuid(), 'diagnostics.noop', 'succeeded', 'diagnostics', '{{}}'::{json}, 0, 1, 0, false,
                   '{{"ok": true, "attempt": 1}}'::{json}, CAST(:tag AS varchar), now(), now(), now(), now()
            FROM generate_series(1, :count)"""), {"tag": tag, "count": count})
        session.execute(text("""
            INSERT INTO job_attempts (job_id, number, outcome, worker, started_at, finished_at)
            SELECT id, 1, 'succeeded', 'bench@localhost pid=1', started_at, finished_at
            FROM jobs WHERE submitted_by = :tag"""),
            {"tag": tag})
        session.execute(text("""
            INSERT INTO job_audit (job_id, action, actor, via, at)
            SELECT id, 'submitted', CAST(:tag AS varchar), 'token:bench', created_at
            FROM jobs WHERE submitted_by = :tag"""), {"tag": tag})


def insert_queued_jobs(db: Database, count: int, tag: str, outbox_age_s: float = 3600) -> None:
    """`count` queued noop jobs whose outbox messages have waited `outbox_age_s` (as after a broker outage)."""
    json = _json_type(db)
    with db.transaction() as session:
        session.execute(text(f"""
            INSERT INTO jobs (id, kind, state, queue, params, progress_done, attempts, worker_lost, cancel_requested,
                              submitted_by, created_at, updated_at)
            SELECT gen_random_uuid(), 'diagnostics.noop', 'queued', 'diagnostics', '{{}}'::{json}, 0, 0, 0, false,
                   CAST(:tag AS varchar), now(), now()
            FROM generate_series(1, :count)"""), {"tag": tag, "count": count})
        session.execute(text("""
            INSERT INTO outbox_messages (job_id, task_name, queue, created_at, publish_attempts)
            SELECT id, 'diagnostics.noop', 'diagnostics', now() - make_interval(secs => :age), 0
            FROM jobs WHERE submitted_by = :tag ORDER BY created_at, id"""), {"tag": tag, "age": outbox_age_s})


def write_ids_and_etags(db: Database, tag: str, path: Path) -> Path:
    """One "<id> <etag>" line per job of `tag`, the ETag computed as the API computes it."""
    columns = (Job.id, Job.state, Job.updated_at, Job.attempts, Job.progress_done)
    with db.read_session() as session:
        rows = session.execute(select(*columns).where(Job.submitted_by == tag)).all()
    path.write_text("".join(f"{row.id} {job_etag(SimpleNamespace(**row._mapping))}\n" for row in rows))  # type: ignore[arg-type]
    return path


def count_jobs(db: Database, tag: str | None = None, kind: str | None = None) -> dict[str, int]:
    """Jobs per state, among those submitted by `tag` and/or of `kind`."""
    statement = select(Job.state, text("count(*)")).group_by(Job.state)
    if tag:
        statement = statement.where(Job.submitted_by == tag)
    if kind:
        statement = statement.where(Job.kind == kind)
    with db.read_session() as session:
        return {state: int(n) for state, n in session.execute(statement).all()}
