"""How long to wait before retrying a job after a transient error."""
from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass


class TransientError(Exception):
    """A failure worth retrying: the same input may succeed a moment later."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with "equal jitter", capped.

    Retry n waits between half and all of min(max_s, base_s * 2**n), rounded up to whole
    seconds (RabbitMQ's native delayed delivery counts whole seconds): delays keep growing from
    one retry to the next, while jobs that failed together do not come back together.
    """

    max_retries: int
    base_s: float
    max_s: float

    def can_retry(self, retries_done: int) -> bool:
        return retries_done < self.max_retries

    def delay(self, retries_done: int, rand: Callable[[], float] = random.random) -> int:
        ceiling = min(self.max_s, self.base_s * 2**retries_done)
        return max(1, math.ceil(ceiling / 2 + rand() * ceiling / 2))
