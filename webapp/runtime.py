"""What the web process shares between requests: settings, database, Celery app, outbox publisher."""
from __future__ import annotations

from dataclasses import dataclass

from celery import Celery
from flask import current_app

from config.settings import Settings
from jobs.celery_app import create_celery
from jobs.db import Database
from jobs.publisher import BackgroundPublisher, OutboxPublisher
from webapp.submit_limits import SubmitLimits
from webapp.token_cache import TokenCache


@dataclass
class WebRuntime:
    settings: Settings
    db: Database
    celery: Celery
    publisher: OutboxPublisher
    fast_path: BackgroundPublisher
    tokens: TokenCache
    submit_limits: SubmitLimits

    @classmethod
    def build(cls, settings: Settings) -> WebRuntime:
        db = Database(settings.resolved_database_url)
        celery = create_celery(settings)
        publisher = OutboxPublisher(celery, db, outage_cooldown_s=settings.broker_outage_cooldown_s)
        return cls(settings=settings, db=db, celery=celery, publisher=publisher,
                   fast_path=BackgroundPublisher(publisher), tokens=TokenCache(settings.token_cache_s),
                   submit_limits=SubmitLimits(settings))


def runtime() -> WebRuntime:
    """The runtime of the current Flask app."""
    jobs: WebRuntime = current_app.extensions["jobs"]
    return jobs
