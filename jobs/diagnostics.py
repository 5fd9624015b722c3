"""Diagnostic jobs for health checks, tests and benchmarks."""
from __future__ import annotations

import time
from typing import Any

from jobs.context import JobContext
from jobs.kinds import job_kind
from jobs.retry_policy import TransientError
from jobs.topology import DIAGNOSTICS


@job_kind("diagnostics.noop", queue=DIAGNOSTICS)
def noop(ctx: JobContext) -> dict[str, Any]:
    """Do nothing (health checks and benchmarks)."""
    return {"ok": True, "attempt": ctx.attempt}


@job_kind("diagnostics.sleep", queue=DIAGNOSTICS)
def sleep(ctx: JobContext) -> dict[str, Any]:
    """Sleep `seconds` in `steps` steps, reporting progress; fail transiently on the first `fail_times` attempts."""
    seconds = float(ctx.params.get("seconds", 0))
    steps = int(ctx.params.get("steps", 1))
    fail_times = int(ctx.params.get("fail_times", 0))
    if ctx.attempt <= fail_times:
        raise TransientError(f"planned transient failure {ctx.attempt} of {fail_times}")
    ctx.progress(0, steps, f"step 0 of {steps}")
    for step in range(1, steps + 1):
        time.sleep(seconds / steps)
        ctx.progress(step, steps, f"step {step} of {steps}")
    return {"slept_s": seconds, "steps": steps, "attempt": ctx.attempt}
