"""JobTask: the one place where a Celery delivery becomes a job attempt and its outcome."""
from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from typing import Any, NoReturn

from celery import Celery, Task
from celery.exceptions import Reject, Retry, SoftTimeLimitExceeded, TimeLimitExceeded
from sqlalchemy.exc import OperationalError

from jobs import lifecycle, metrics, transitions
from jobs.context import JobCancelled, JobContext, WaitForChildren
from jobs.kinds import JobKind, declared_kinds
from jobs.lifecycle import AttemptSuperseded, Decision, error_info
from jobs.retry_policy import TransientError
from jobs.topology import DEAD_LETTER_EXCHANGE, dead_letter_queue_name
from tasks.runtime import retry_policy, retry_producer, worker_database, worker_publisher, worker_settings

log = logging.getLogger("tasks")


class JobTask(Task):
    """Runs a job function with state tracking, retries with backoff, and dead-lettering.

    Transient errors (`transient_errors`) are retried with the settings' backoff; anything else,
    the last retry, a soft time limit or a crash loop fails the job and rejects the message
    without requeue, so RabbitMQ moves it to the queue's dead-letter queue.
    """

    abstract = True
    # No Celery limit: the job's RetryPolicy (JOB_MAX_RETRIES) decides, and waits for the database count
    # against nothing. Celery's default of 3 applied to every retry(max_retries=None) call below: a job gave up
    # after 4 attempts whatever JOB_MAX_RETRIES said, and a fourth database wait raised instead of retrying,
    # which acknowledged the message and left the job `retrying` for ever.
    max_retries = None
    transient_errors: tuple[type[BaseException], ...] = (TransientError, ConnectionError, TimeoutError)

    def run_job(
        self, job_id: str, kind: JobKind, *, takeover: bool = False, db_waits: int = 0, lost: bool = True
    ) -> None:
        """One delivery of a job's message. `takeover`, `db_waits` and `lost` come from a database-outage retry:
        `lost` says whether the attempt to take over was left by a lost worker (or by the database outage)."""
        redelivered_by_broker = bool((self.request.delivery_info or {}).get("redelivered"))
        redelivered = takeover or redelivered_by_broker
        worker_was_lost = redelivered_by_broker or (takeover and lost)
        # Neither a retry (Celery counts them in the message) nor taken back by the broker.
        first_delivery = not redelivered and not self.request.retries
        try:
            delivery = self._begin(job_id, redelivered, worker_was_lost, first_delivery)
        except OperationalError as exc:
            self._wait_for_database(job_id, exc, takeover=redelivered, db_waits=db_waits, lost=worker_was_lost)
        if delivery.decision is Decision.SKIP:
            log.info("job_id=%s delivery skipped: %s", job_id, delivery.reason)
            return
        if delivery.decision is Decision.GIVE_UP:
            self._dead_letter(delivery.reason)
        try:
            self._execute(job_id, delivery.attempt, kind, delivery.params, db_waits=db_waits)
        except OperationalError as exc:
            # The database went away mid-attempt, so the outcome may be unrecorded: once it is back,
            # a new delivery takes the attempt over (the job code is idempotent).
            self._wait_for_database(job_id, exc, takeover=True, db_waits=db_waits, lost=False)

    def _begin(
        self, job_id: str, redelivered: bool, worker_was_lost: bool, first_delivery: bool
    ) -> lifecycle.Delivery:
        return lifecycle.start_attempt(
            worker_database(), job_id, redelivered=redelivered, worker=f"{self.request.hostname} pid={os.getpid()}",
            max_worker_lost=worker_settings().max_worker_lost, worker_was_lost=worker_was_lost,
            first_delivery=first_delivery,
        )

    def _execute(
        self, job_id: str, attempt: int, kind: JobKind, params: dict[str, Any], *, db_waits: int
    ) -> None:
        db = worker_database()
        context = JobContext(db=db, job_id=uuid.UUID(job_id), attempt=attempt, settings=worker_settings(),
                             params=params, publish=worker_publisher().publish_many_after_commit)
        try:
            result = kind.run(context)
        except JobCancelled as cancelled:
            with db.transaction() as session:
                lifecycle.cancel_at_checkpoint(session, job_id, attempt, result=cancelled.result,
                                               message=str(cancelled) if cancelled.result else None)
            return
        except AttemptSuperseded as exc:
            log.warning("job_id=%s attempt=%s stopped: %s", job_id, attempt, exc)
            return
        except WaitForChildren:
            log.info("job_id=%s attempt=%s waits for its child jobs", job_id, attempt)
            return
        except OperationalError:
            raise
        except SoftTimeLimitExceeded:
            soft_limit = self.soft_time_limit or self.request.timelimit[1]
            self._fail(job_id, attempt, error_info(
                f"the job took longer than its time limit of {soft_limit} s and was stopped", kind="TimeLimitExceeded"))
        except self.transient_errors as exc:
            self._retry_or_fail(job_id, attempt, exc, db_waits)
        except Exception as exc:
            log.exception("job_id=%s attempt=%s failed", job_id, attempt)
            self._fail(job_id, attempt, error_info(exc))
        else:
            if not context.completed:  # a job that completed itself committed its outcome already
                lifecycle.end_attempt(db, job_id, attempt, transitions.SUCCEEDED, result=result)

    def _wait_for_database(
        self, job_id: str, exc: OperationalError, *, takeover: bool, db_waits: int, lost: bool
    ) -> NoReturn:
        """Come back later through the broker's delayed delivery; the job keeps its retry budget."""
        delay = retry_policy(worker_settings()).delay(db_waits)
        log.warning("job_id=%s database unavailable (%s); delivery again in %.1f s",
                    job_id, str(exc).splitlines()[0][:200], delay)
        raise self.retry(
            exc=exc, countdown=delay, max_retries=None, args=(job_id,),
            kwargs={"takeover": takeover, "db_waits": db_waits + 1, "lost": lost}, producer=retry_producer(),
        )

    def _fail(self, job_id: str, attempt: int, error: dict[str, Any]) -> None:
        kind = declared_kinds().get(self.name)
        lifecycle.end_attempt(worker_database(), job_id, attempt, transitions.FAILED, error=error,
                              dead_letter_queue=dead_letter_queue_name(kind.queue.name) if kind else None)
        self._dead_letter(error["message"])

    def _dead_letter(self, reason: str) -> NoReturn:
        """Reject the message without requeue: RabbitMQ moves it to its queue's dead-letter queue."""
        kind = declared_kinds().get(self.name)
        # Not the delivery's routing key: a retried message arrives with the delayed-delivery one.
        metrics.count_dead_lettered(self.name, kind.queue.name if kind else "unknown")
        raise Reject(reason, requeue=False)

    def _retry_or_fail(self, job_id: str, attempt: int, exc: BaseException, db_waits: int) -> None:
        policy = retry_policy(worker_settings())
        retries_done = self.request.retries - db_waits  # waits for the database do not use the job's retries
        if not policy.can_retry(retries_done):
            error = error_info(exc)
            error["message"] += f" (gave up after {retries_done + 1} attempts)"
            self._fail(job_id, attempt, error)
        delay = policy.delay(retries_done)
        lifecycle.end_attempt(worker_database(), job_id, attempt, transitions.RETRYING,
                              error=error_info(exc) | {"retry_in_s": round(delay, 3)})
        try:
            # A fresh message: a takeover flag from an earlier database wait must not ride along.
            self.retry(exc=exc, countdown=delay, max_retries=None, args=(job_id,), kwargs={"db_waits": db_waits},
                       producer=retry_producer())
        except Retry:
            raise
        except Exception as publish_error:  # noqa: BLE001 - a retry that cannot be published must not leave the job waiting
            self._fail(job_id, attempt, error_info(f"retry could not be scheduled: {publish_error}"))

    def on_failure(self, exc: BaseException, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                   einfo: Any) -> None:
        """Hard time limit (the pool child was killed): the job fails with a readable error, and a copy of its
        message goes to its dead-letter queue, as every other failure's does (Celery acknowledges the message of
        a timed-out task, so the broker dead-letters nothing), where the dead-letter tools can replay it."""
        if not isinstance(exc, TimeLimitExceeded) or not args:
            return
        kind = declared_kinds().get(self.name)
        dead_queue = dead_letter_queue_name(kind.queue.name) if kind else None
        with worker_database().transaction() as session:
            job = lifecycle.load_for_update(session, args[0])
            if job.state != "running":
                return
            lifecycle.fail(session, job.id, job.attempts, error_info(
                f"the job exceeded its hard time limit of {self.time_limit} s and was killed",
                kind="TimeLimitExceeded"), dead_letter_queue=dead_queue)
        if kind is not None:
            self._copy_to_dead_letters(str(args[0]), kind, "time limit")

    def _copy_to_dead_letters(self, job_id: str, kind: JobKind, reason: str) -> None:
        """Publish (confirmed) the job's task message to `<queue>.dead`, with the headers a broker's dead-lettering
        would give the dead-letter tools: the queue it died in and why."""
        headers, properties, body = worker_publisher().task_message(kind.name, job_id)
        try:
            retry_producer().publish(
                body, exchange=DEAD_LETTER_EXCHANGE.name, routing_key=kind.queue.name, serializer="json",
                headers={**headers, "x-first-death-queue": kind.queue.name, "x-first-death-reason": reason},
                delivery_mode=2, retry=True, retry_policy={"max_retries": 3}, **properties)
        except Exception:
            log.exception("job_id=%s: its message could not be copied to %s", job_id,
                          dead_letter_queue_name(kind.queue.name))
            return
        metrics.count_dead_lettered(kind.name, kind.queue.name)


def register_job_tasks(app: Celery) -> None:
    """One Celery task per declared job kind, named as the kind, taking the job id."""
    for kind in declared_kinds().values():
        app.task(name=kind.name, bind=True, base=JobTask, shared=False)(_task_body(kind))


def _task_body(kind: JobKind) -> Callable[..., None]:
    def run(self: JobTask, job_id: str, takeover: bool = False, db_waits: int = 0, lost: bool = True) -> None:
        self.run_job(job_id, kind, takeover=takeover, db_waits=db_waits, lost=lost)

    run.__name__ = kind.run.__name__
    run.__doc__ = kind.run.__doc__
    run.__module__ = kind.run.__module__
    return run
