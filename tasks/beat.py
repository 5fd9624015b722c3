"""`celery -A tasks.worker beat --scheduler tasks.beat:DatabaseScheduler`: recurring jobs from the database.

Celery's beat loop calls `tick()`; each tick runs jobs/scheduler.tick, which submits each period of
each schedule exactly once, however many beat processes run: two is a supported deployment.
Celery's own in-memory schedule (beat_schedule) is not used.
"""
from __future__ import annotations

from typing import Any

from celery.beat import Scheduler

from jobs import scheduler
from jobs.publisher import OutboxPublisher
from tasks.runtime import worker_database, worker_settings

TICK_S = 1.0


class DatabaseScheduler(Scheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._publisher: OutboxPublisher | None = None

    def setup_schedule(self) -> None:
        """Nothing of Celery's own schedule: the schedules are rows (jobs/schedule_models.py)."""

    @property
    def publisher(self) -> OutboxPublisher:
        if self._publisher is None:
            self._publisher = OutboxPublisher(self.app, worker_database(),
                                              outage_cooldown_s=worker_settings().broker_outage_cooldown_s)
        return self._publisher

    def tick(self, *args: Any, **kwargs: Any) -> float:
        scheduler.tick(worker_database(), self.publisher)
        return TICK_S

    @property
    def info(self) -> str:
        return "    . schedules from the database (jobs/scheduler.py), ticking every 1 s"
