"""The job state machine on a real (SQLite) database: forward moves, refusals, redelivery, fencing, cancel, retry."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from jobs import lifecycle, transitions
from jobs.audit import Actor
from jobs.db import Database
from jobs.enqueue import UnknownJobKind, retry_job, submit_job
from jobs.lifecycle import AttemptSuperseded, Decision, Delivery, InvalidTransition
from jobs.models import Job, JobAttempt, JobAuditEntry, OutboxMessage

MAX_LOST = 3


def submit(db: Database, kind: str = "diagnostics.sleep") -> uuid.UUID:
    with db.transaction() as session:
        job, _message = submit_job(session, kind, {"seconds": 0})
    return job.id


# How the worker's transitions are made: inside a caller's transaction (begin_attempt, succeed, fail:
# as job code and the web call them), or as the worker does, each one statement of its own when it can
# (start_attempt, end_attempt: psycopg directly on PostgreSQL, SQLAlchemy Core on SQLite).
VIA = ["transaction", "worker"]


@pytest.fixture(params=VIA)
def via(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db(any_db: Database, via: str) -> Database:
    """Every lifecycle test runs on SQLite and on PostgreSQL, both ways: the statements differ on each."""
    WAYS[id(any_db)] = via
    return any_db


WAYS: dict[int, str] = {}


def by_worker(db: Database) -> bool:
    return WAYS.get(id(db)) == "worker"


def deliver(db: Database, job_id: uuid.UUID, *, redelivered: bool = False, first_delivery: bool = False) -> Delivery:
    """What a worker does first with a message."""
    if by_worker(db):
        return lifecycle.start_attempt(db, job_id, redelivered=redelivered, worker="test-worker pid=1",
                                       max_worker_lost=MAX_LOST, first_delivery=first_delivery)
    with db.transaction() as session:
        return lifecycle.begin_attempt(
            session, job_id, redelivered=redelivered, worker="test-worker pid=1", max_worker_lost=MAX_LOST,
            first_delivery=first_delivery,
        )


def read(db: Database, job_id: uuid.UUID) -> tuple[Job, list[JobAttempt]]:
    with db.read_session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job, list(job.attempt_history)


def outcomes(db: Database, job_id: uuid.UUID) -> list[str]:
    return [attempt.outcome for attempt in read(db, job_id)[1]]


def outbox_rows(db: Database, job_id: uuid.UUID) -> list[OutboxMessage]:
    """The job's task messages (not the events about it)."""
    with db.read_session() as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.job_id == job_id,
                                                                OutboxMessage.event.is_(None))
                                    .order_by(OutboxMessage.id)))


def count(db: Database, model: type) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def succeed(db: Database, job_id: uuid.UUID, attempt: int, result: dict | None = None) -> None:
    if by_worker(db):
        lifecycle.end_attempt(db, job_id, attempt, transitions.SUCCEEDED, result=result or {"ok": True})
        return
    with db.transaction() as session:
        lifecycle.succeed(session, job_id, attempt, result or {"ok": True})


def fail(db: Database, job_id: uuid.UUID, attempt: int) -> None:
    error = {"type": "Boom", "message": "it broke"}
    if by_worker(db):
        lifecycle.end_attempt(db, job_id, attempt, transitions.FAILED, error=error)
        return
    with db.transaction() as session:
        lifecycle.fail(session, job_id, attempt, error)


def progress(db: Database, job_id: uuid.UUID, attempt: int, done: int, total: int | None, message: str) -> bool:
    if by_worker(db):
        return lifecycle.progress_checkpoint(db, job_id, attempt, done, total, message)
    with db.transaction() as session:
        return lifecycle.record_progress(session, job_id, attempt, done, total, message)


def schedule_retry(db: Database, job_id: uuid.UUID, attempt: int, error: dict) -> None:
    if by_worker(db):
        lifecycle.end_attempt(db, job_id, attempt, transitions.RETRYING, error=error)
        return
    with db.transaction() as session:
        lifecycle.schedule_retry(session, job_id, attempt, error)


def cancel(db: Database, job_id: uuid.UUID) -> None:
    with db.transaction() as session:
        lifecycle.request_cancel(session, lifecycle.load_for_update(session, job_id))


def test_forward_path_queued_running_succeeded_with_attempt_rows(db: Database) -> None:
    job_id = submit(db)
    job, attempts = read(db, job_id)
    assert (job.state, job.attempts, attempts) == ("queued", 0, [])

    delivery = deliver(db, job_id)
    assert delivery == Delivery(Decision.RUN, attempt=1)
    job, attempts = read(db, job_id)
    assert job.state == "running" and job.attempts == 1 and job.started_at is not None
    assert [(a.number, a.outcome, a.worker) for a in attempts] == [(1, "running", "test-worker pid=1")]

    assert progress(db, job_id, 1, 1, 2, "half way") is False
    assert read(db, job_id)[0].progress_message == "half way"

    succeed(db, job_id, 1, {"slept_s": 0})
    job, attempts = read(db, job_id)
    assert job.state == "succeeded"
    assert job.result == {"slept_s": 0}
    assert job.progress_done == job.progress_total == 2
    assert job.finished_at is not None and job.finished_at >= job.started_at
    assert [(a.number, a.outcome) for a in attempts] == [(1, "succeeded")]
    assert attempts[0].finished_at is not None


@pytest.mark.parametrize("redelivered", [False, True])
def test_message_for_a_succeeded_job_is_skipped_not_run_again(db: Database, redelivered: bool) -> None:
    job_id = submit(db)
    succeed(db, job_id, deliver(db, job_id).attempt)
    delivery = deliver(db, job_id, redelivered=redelivered)
    assert delivery.decision is Decision.SKIP
    assert "succeeded" in delivery.reason
    job, attempts = read(db, job_id)
    assert job.state == "succeeded" and job.attempts == 1
    assert [a.outcome for a in attempts] == ["succeeded"]


def test_cancel_of_a_succeeded_job_is_refused(db: Database) -> None:
    job_id = submit(db)
    succeed(db, job_id, deliver(db, job_id).attempt)
    with pytest.raises(InvalidTransition) as caught:
        cancel(db, job_id)
    assert (caught.value.current, caught.value.target) == ("succeeded", "cancelled")
    job, _ = read(db, job_id)
    assert job.state == "succeeded" and job.cancel_requested is False


@pytest.mark.parametrize("finish", ["succeed", "cancel"])
def test_retry_of_a_job_that_did_not_fail_is_refused_and_writes_nothing(db: Database, finish: str) -> None:
    job_id = submit(db)
    if finish == "succeed":
        succeed(db, job_id, deliver(db, job_id).attempt)
    else:
        cancel(db, job_id)
    with pytest.raises(InvalidTransition), db.transaction() as session:
        retry_job(session, lifecycle.load_for_update(session, job_id))
    assert read(db, job_id)[0].state == ("succeeded" if finish == "succeed" else "cancelled")
    assert len(outbox_rows(db, job_id)) == 1


def test_second_copy_of_a_running_jobs_message_is_skipped(db: Database) -> None:
    job_id = submit(db)
    assert deliver(db, job_id).decision is Decision.RUN
    duplicate = deliver(db, job_id, redelivered=False)
    assert duplicate.decision is Decision.SKIP
    assert duplicate.attempt == 1
    job, attempts = read(db, job_id)
    assert job.state == "running" and job.attempts == 1 and job.worker_lost == 0
    assert [a.outcome for a in attempts] == ["running"]


def test_redelivered_message_of_a_running_job_closes_the_old_attempt_as_lost_and_runs_again(db: Database) -> None:
    job_id = submit(db)
    deliver(db, job_id)
    delivery = deliver(db, job_id, redelivered=True)
    assert delivery == Delivery(Decision.RUN, attempt=2)
    job, attempts = read(db, job_id)
    assert job.state == "running" and job.attempts == 2 and job.worker_lost == 1
    assert [(a.number, a.outcome) for a in attempts] == [(1, "lost"), (2, "running")]
    assert attempts[0].error["type"] == "WorkerLost"
    assert attempts[0].finished_at is not None

    succeed(db, job_id, 2)
    assert outcomes(db, job_id) == ["lost", "succeeded"]


def test_worker_lost_max_times_gives_up_and_fails_the_job(db: Database) -> None:
    job_id = submit(db)
    assert deliver(db, job_id).decision is Decision.RUN
    for expected_attempt in range(2, MAX_LOST + 1):
        assert deliver(db, job_id, redelivered=True) == Delivery(Decision.RUN, attempt=expected_attempt)
    give_up = deliver(db, job_id, redelivered=True)
    assert give_up.decision is Decision.GIVE_UP
    job, attempts = read(db, job_id)
    assert job.state == "failed"
    assert job.finished_at is not None
    assert job.error["type"] == "WorkerLost"
    assert f"lost {MAX_LOST} times" in job.error["message"]
    assert [a.outcome for a in attempts] == ["lost"] * MAX_LOST
    # A later copy of the message does not resurrect it.
    assert deliver(db, job_id, redelivered=True).decision is Decision.SKIP


def test_stale_attempt_is_fenced_off_from_progress_and_success(db: Database) -> None:
    job_id = submit(db)
    deliver(db, job_id)
    deliver(db, job_id, redelivered=True)  # attempt 1 is presumed lost; attempt 2 is current
    with pytest.raises(AttemptSuperseded):
        progress(db, job_id, 1, 5, 10, "stale")
    with pytest.raises(AttemptSuperseded):
        succeed(db, job_id, 1, {"from": "stale"})
    with pytest.raises(AttemptSuperseded):
        fail(db, job_id, 1)
    job, _ = read(db, job_id)
    assert job.state == "running" and job.result is None and job.progress_message is None
    succeed(db, job_id, 2, {"from": "current"})
    assert read(db, job_id)[0].result == {"from": "current"}


def test_attempt_of_a_finished_job_cannot_write_again(db: Database) -> None:
    job_id = submit(db)
    succeed(db, job_id, deliver(db, job_id).attempt, {"first": True})
    with pytest.raises(AttemptSuperseded):
        succeed(db, job_id, 1, {"second": True})
    assert read(db, job_id)[0].result == {"first": True}


def test_cancel_of_a_queued_job_is_immediate_and_its_message_is_then_skipped(db: Database) -> None:
    job_id = submit(db)
    cancel(db, job_id)
    job, _ = read(db, job_id)
    assert job.state == "cancelled" and job.finished_at is not None
    delivery = deliver(db, job_id)
    assert delivery.decision is Decision.SKIP
    job, attempts = read(db, job_id)
    assert job.attempts == 0 and attempts == [] and job.started_at is None


def test_cancel_of_a_running_job_is_seen_at_the_next_progress_checkpoint(db: Database) -> None:
    job_id = submit(db)
    deliver(db, job_id)
    cancel(db, job_id)
    job, _ = read(db, job_id)
    assert job.state == "running" and job.cancel_requested is True
    assert progress(db, job_id, 1, 3, 10, "step 3") is True
    with db.transaction() as session:
        lifecycle.cancel_at_checkpoint(session, job_id, 1)
    job, attempts = read(db, job_id)
    assert job.state == "cancelled"
    assert job.progress_message == "cancelled at 3 of 10"
    assert [a.outcome for a in attempts] == ["cancelled"]


def test_schedule_retry_moves_running_to_retrying_then_a_new_attempt_runs(db: Database) -> None:
    job_id = submit(db)
    deliver(db, job_id)
    schedule_retry(db, job_id, 1, {"type": "TransientError", "message": "later", "retry_in_s": 1})
    job, attempts = read(db, job_id)
    assert job.state == "retrying"
    assert job.error["type"] == "TransientError"
    assert [a.outcome for a in attempts] == ["retrying"]

    assert deliver(db, job_id) == Delivery(Decision.RUN, attempt=2)
    job, _ = read(db, job_id)
    assert job.state == "running" and job.error is None
    succeed(db, job_id, 2)
    assert outcomes(db, job_id) == ["retrying", "succeeded"]


def test_a_copy_of_the_first_message_does_not_start_a_retrying_job_early(db: Database) -> None:
    """The relay and the request may both publish a job's message; the copy that comes while the job waits
    for its retry is skipped, and the retry's own message runs the next attempt."""
    job_id = submit(db)
    assert deliver(db, job_id, first_delivery=True).decision is Decision.RUN
    schedule_retry(db, job_id, 1, {"type": "TransientError", "message": "later"})
    copy = deliver(db, job_id, first_delivery=True)
    assert copy.decision is Decision.SKIP and "waiting for its retry" in copy.reason
    job, attempts = read(db, job_id)
    assert (job.state, job.attempts, [a.outcome for a in attempts]) == ("retrying", 1, ["retrying"])
    assert deliver(db, job_id) == Delivery(Decision.RUN, attempt=2)  # the retry's message


def test_cancel_of_a_retrying_job_is_immediate(db: Database) -> None:
    job_id = submit(db)
    deliver(db, job_id)
    schedule_retry(db, job_id, 1, {"type": "TransientError", "message": "later"})
    cancel(db, job_id)
    job, attempts = read(db, job_id)
    assert job.state == "cancelled"
    # The attempt keeps how it ended (a transient failure, with its error); the job says it was cancelled.
    assert [(a.outcome, a.error["message"]) for a in attempts] == [("retrying", "later")]
    assert deliver(db, job_id).decision is Decision.SKIP


def test_retry_of_a_failed_job_queues_it_with_a_new_unsent_outbox_message(db: Database) -> None:
    job_id = submit(db)
    fail(db, job_id, deliver(db, job_id).attempt)
    assert read(db, job_id)[0].state == "failed"

    with db.transaction() as session:
        message = retry_job(session, lifecycle.load_for_update(session, job_id))
    job, _ = read(db, job_id)
    assert job.state == "queued" and job.finished_at is None
    rows = outbox_rows(db, job_id)
    assert len(rows) == 2
    assert rows[-1].id == message.id
    assert rows[-1].sent_at is None
    assert (rows[-1].task_name, rows[-1].queue) == ("diagnostics.sleep", "diagnostics")

    assert deliver(db, job_id) == Delivery(Decision.RUN, attempt=2)
    succeed(db, job_id, 2)
    assert outcomes(db, job_id) == ["failed", "succeeded"]


def test_retry_after_a_crash_loop_gets_a_fresh_worker_lost_budget(db: Database) -> None:
    job_id = submit(db)
    deliver(db, job_id)
    for _ in range(MAX_LOST):
        deliver(db, job_id, redelivered=True)
    assert read(db, job_id)[0].state == "failed"
    with db.transaction() as session:
        retry_job(session, lifecycle.load_for_update(session, job_id))
    assert deliver(db, job_id).decision is Decision.RUN
    assert deliver(db, job_id, redelivered=True).decision is Decision.RUN  # one loss, not the fourth


def test_submit_writes_one_job_and_one_outbox_row_together(db: Database) -> None:
    with db.transaction() as session:
        job, message = submit_job(
            session, "diagnostics.sleep", {"seconds": 1}, actor=Actor("alice@example.com", "token:ci"))
    assert count(db, Job) == 1
    assert count(db, OutboxMessage) == 1
    stored, _ = read(db, job.id)
    assert (stored.state, stored.kind, stored.queue, stored.params, stored.submitted_by) == (
        "queued", "diagnostics.sleep", "diagnostics", {"seconds": 1}, "alice@example.com")
    with db.read_session() as session:
        entries = session.scalars(select(JobAuditEntry).where(JobAuditEntry.job_id == job.id)).all()
        assert [(e.action, e.actor, e.via) for e in entries] == [("submitted", "alice@example.com", "token:ci")]
    [row] = outbox_rows(db, job.id)
    assert row.id == message.id and row.sent_at is None and row.publish_attempts == 0


def test_rolled_back_submit_leaves_neither_job_nor_outbox_row(db: Database) -> None:
    with db.session() as session:
        session.begin()
        submit_job(session, "diagnostics.sleep", {"seconds": 1})  # flushed: both rows are in the transaction
        session.rollback()
    with pytest.raises(RuntimeError), db.transaction() as session:
        submit_job(session, "diagnostics.noop", {})
        raise RuntimeError("the request failed after the job was added")
    assert count(db, Job) == 0
    assert count(db, OutboxMessage) == 0


def test_unknown_kind_is_refused_without_writing(db: Database) -> None:
    with pytest.raises(UnknownJobKind), db.transaction() as session:
        submit_job(session, "diagnostics.nope", {})
    assert count(db, Job) == 0 and count(db, OutboxMessage) == 0


def test_delivery_for_an_unknown_or_malformed_job_id_is_skipped(db: Database) -> None:
    assert deliver(db, uuid.uuid4()).decision is Decision.SKIP
    with db.transaction() as session:
        delivery = lifecycle.begin_attempt(session, "not-a-uuid", redelivered=False, worker="w", max_worker_lost=3)
    assert delivery.decision is Decision.SKIP


def test_database_outage_takeovers_do_not_count_as_lost_workers(db: Database) -> None:
    job_id = submit(db)
    assert deliver(db, job_id).decision is Decision.RUN
    for _ in range(MAX_LOST + 2):  # more takeovers than the crash-loop bound allows for lost workers
        with db.transaction() as session:
            delivery = lifecycle.begin_attempt(session, job_id, redelivered=True, worker="w", max_worker_lost=MAX_LOST,
                                               worker_was_lost=False)
        assert delivery.decision is Decision.RUN
    job, attempts = read(db, job_id)
    assert (job.state, job.worker_lost, job.attempts) == ("running", 0, MAX_LOST + 3)
    assert {a.error["type"] for a in attempts if a.outcome == "lost"} == {"DatabaseUnavailable"}
