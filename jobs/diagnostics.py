"""Diagnostic jobs for health checks, tests and benchmarks."""
from __future__ import annotations

import time
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from jobs.context import JobContext
from jobs.kinds import job_kind
from jobs.retry_policy import TransientError
from jobs.topology import DIAGNOSTICS


def _sleep(seconds: float, *, ignore_soft_limit: bool) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            time.sleep(left)
        except SoftTimeLimitExceeded:
            if not ignore_soft_limit:
                raise


@job_kind("diagnostics.noop", queue=DIAGNOSTICS)
def noop(ctx: JobContext) -> dict[str, Any]:
    """Do nothing (health checks and benchmarks)."""
    return {"ok": True, "attempt": ctx.attempt}


@job_kind("diagnostics.sleep", queue=DIAGNOSTICS)
def sleep(ctx: JobContext) -> dict[str, Any]:
    """Sleep `seconds` in `steps` steps, reporting progress; fail transiently on the first `fail_times` attempts.

    With `ignore_soft_limit` it sleeps on past its soft time limit, as a job stuck in C code would, until the
    hard limit kills its process.
    """
    seconds = float(ctx.params.get("seconds", 0))
    steps = int(ctx.params.get("steps", 1))
    fail_times = int(ctx.params.get("fail_times", 0))
    if ctx.attempt <= fail_times:
        raise TransientError(f"planned transient failure {ctx.attempt} of {fail_times}")
    ctx.progress(0, steps, f"step 0 of {steps}")
    for step in range(1, steps + 1):
        _sleep(seconds / steps, ignore_soft_limit=bool(ctx.params.get("ignore_soft_limit", False)))
        ctx.progress(step, steps, f"step {step} of {steps}")
    return {"slept_s": seconds, "steps": steps, "attempt": ctx.attempt}
