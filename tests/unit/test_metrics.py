"""Job metrics written by separate processes (each owner's directory, each pid's files) add up in one scrape."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from config.settings import PROJECT_ROOT
from jobs.metrics import MetricFilesCollector, metrics_root

# One process: owns a directory like a gunicorn master or a Celery worker, forks two children that observe.
OBSERVER = textwrap.dedent("""
    import os, sys
    import prometheus_client  # as the `celery` command does (through Flower) before the worker owns its directory
    from datetime import timedelta
    from pathlib import Path
    from jobs.db import utcnow
    from jobs.metrics import count_dead_lettered, observe_state_change, own_metrics_dir
    from jobs.models import Job

    own_metrics_dir(Path(sys.argv[1]), sys.argv[2])
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            now = utcnow()
            job = Job(kind="diagnostics.sleep", queue="diagnostics", attempts=1, created_at=now - timedelta(seconds=3),
                      started_at=now - timedelta(seconds=2), state="running")
            observe_state_change(job)                         # queue wait 1 s
            job.state, job.finished_at = "succeeded", now
            observe_state_change(job)                         # run time 2 s
            job.state = "retrying"
            observe_state_change(job)
            count_dead_lettered("diagnostics.sleep", "diagnostics")
            os._exit(0)
        os.waitpid(pid, 0)
""")


def run_owner(var_dir: Path, owner: str) -> None:
    subprocess.run([sys.executable, "-c", OBSERVER, str(var_dir), owner], cwd=PROJECT_ROOT, check=True, timeout=60)


def scrape(var_dir: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MetricFilesCollector(metrics_root(var_dir)))
    text = generate_latest(registry).decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_observations_of_every_process_add_up(tmp_path: Path) -> None:
    run_owner(tmp_path, "worker-a@host")
    run_owner(tmp_path, "worker-b@host")  # 2 owners x 2 children = 4 observing processes

    samples = scrape(tmp_path)

    sleep = (("kind", "diagnostics.sleep"),)
    assert samples[("jobs_queue_wait_seconds_count", sleep)] == 4
    assert samples[("jobs_queue_wait_seconds_sum", sleep)] == 4.0
    assert samples[("jobs_queue_wait_seconds_bucket", (("kind", "diagnostics.sleep"), ("le", "0.5")))] == 0
    assert samples[("jobs_queue_wait_seconds_bucket", (("kind", "diagnostics.sleep"), ("le", "1.0")))] == 4
    finished = (("kind", "diagnostics.sleep"), ("state", "succeeded"))
    assert samples[("jobs_run_duration_seconds_count", finished)] == 4
    assert samples[("jobs_run_duration_seconds_sum", finished)] == 8.0
    assert samples[("jobs_retries_total", sleep)] == 4
    assert samples[("jobs_dead_lettered_total", (("kind", "diagnostics.sleep"), ("queue", "diagnostics")))] == 4


def test_an_owner_restarting_starts_its_own_counts_afresh(tmp_path: Path) -> None:
    run_owner(tmp_path, "worker-a@host")
    run_owner(tmp_path, "worker-b@host")
    run_owner(tmp_path, "worker-a@host")  # restarted: its old files are wiped, worker-b's stay

    assert scrape(tmp_path)[("jobs_retries_total", (("kind", "diagnostics.sleep"),))] == 4


def test_no_files_no_samples(tmp_path: Path) -> None:
    assert scrape(tmp_path) == {}

