"""The worker side's settings and database, created on first use in each process."""
from __future__ import annotations

from functools import lru_cache

from config.settings import Settings, get_settings
from jobs.db import Database
from jobs.retry_policy import RetryPolicy


@lru_cache(maxsize=1)
def worker_database() -> Database:
    return Database(get_settings().resolved_database_url)


def worker_settings() -> Settings:
    return get_settings()


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_retries=settings.job_max_retries,
        base_s=settings.retry_backoff_base_s,
        max_s=settings.retry_backoff_max_s,
    )
