"""Diagnostic tasks (queue `diagnostics`)."""
from __future__ import annotations

from jobs.diagnostics import run_noop, run_sleep
from tasks.base import job_task

noop = job_task("diagnostics.noop")(run_noop)
sleep = job_task("diagnostics.sleep")(run_sleep)
