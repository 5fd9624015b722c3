"""How long to wait before retrying a job after a transient error."""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

# Past this many doublings every delay is at the cap anyway; it keeps 2**n from overflowing.
_MAX_DOUBLINGS = 64


class TransientError(Exception):
    """A failure worth retrying: the same input may succeed a moment later."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, capped.

    Retry n waits a uniformly random time in [base_s * 2**n, base_s * 2**(n+1)), capped at max_s.
    The windows of successive retries do not overlap, so below the cap every retry waits longer
    than the one before, while jobs that failed together do not come back together. base_s is at
    least 1 s: RabbitMQ's native delayed delivery counts whole seconds and refuses a zero delay.
    """

    max_retries: int
    base_s: float
    max_s: float

    def __post_init__(self) -> None:
        if self.base_s < 1 or self.max_s < self.base_s:
            raise ValueError("RetryPolicy needs 1 <= base_s <= max_s")

    def can_retry(self, retries_done: int) -> bool:
        return retries_done < self.max_retries

    def delay(self, retries_done: int, rand: Callable[[], float] = random.random) -> float:
        low = self.base_s * 2.0 ** min(retries_done, _MAX_DOUBLINGS)
        return min(self.max_s, low + rand() * low)
