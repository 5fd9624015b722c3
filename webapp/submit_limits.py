"""The per-token and per-user budgets of job submission, counted with the `limits` library directly.

Fixed windows in RATELIMIT_STORAGE_URI, as Flask-Limiter counts the sign-in limits: two increments
per submission, without Flask-Limiter's per-request resolution of which limits apply, which cost as
much as the job's own database write (docs/benchmarks.md).
"""
from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from config.settings import Settings
from webapp.errors import ApiError

TOO_MANY_SUBMISSIONS = "too many jobs submitted; wait before submitting more (see Retry-After)"


class SubmitLimits:
    """The per-token and per-user budgets of one web process (shared across processes with a shared storage)."""

    def __init__(self, settings: Settings) -> None:
        self.strategy = FixedWindowRateLimiter(storage_from_string(settings.ratelimit_storage_uri))
        self.per_token = parse_many(settings.submit_rate_limit_per_token)
        self.per_user = parse_many(settings.submit_rate_limit_per_user)

    def charge(self, user_id: int, token_id: int | None) -> None:
        """Count one submission; ApiError 429 with Retry-After once a budget is spent."""
        if token_id is not None:
            self._hit(self.per_token, "submit-per-token", f"token:{token_id}")
        self._hit(self.per_user, "submit-per-user", f"user:{user_id}")

    def _hit(self, items: list[RateLimitItem], scope: str, key: str) -> None:
        for item in items:
            if not self.strategy.hit(item, scope, key):
                reset_at = self.strategy.get_window_stats(item, scope, key).reset_time
                retry_after = max(1, math.ceil(reset_at - time.time()))
                raise ApiError(429, TOO_MANY_SUBMISSIONS, headers={"Retry-After": str(retry_after)})
