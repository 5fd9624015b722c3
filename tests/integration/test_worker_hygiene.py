"""Worker hygiene with a real `celery worker`: a pool process over WORKER_MAX_MEMORY_MB is replaced once its job
ends, and the jobs after it still run."""
from __future__ import annotations

import pytest

from tests.conftest import Stack
from tests.support.accounts import token_client
from tests.support.api import submit_sleep, wait_for_state
from tests.support.processes import CeleryWorker, wait_for
from tests.support.services import rabbit_vhost

pytestmark = pytest.mark.integration


def test_a_pool_process_over_its_memory_limit_is_replaced_after_its_job(stack: Stack) -> None:
    with rabbit_vhost("jobs-hygiene") as broker_url:  # no other worker of the session takes these jobs
        client = token_client(stack.app(broker_url=broker_url), stack.account("operator").token)
        worker = CeleryWorker({**stack.env, "BROKER_URL": broker_url, "WORKER_MAX_MEMORY_MB": "1"}, stack.log_dir,
                              queues="diagnostics", concurrency=1).start()
        try:
            [first] = [child.pid for child in worker.pool_children()]
            wait_for_state(client, submit_sleep(client, seconds=0), "succeeded")
            wait_for(lambda: [child.pid for child in worker.pool_children()] not in ([], [first]), 30,
                     what="the pool process to be replaced")
            wait_for_state(client, submit_sleep(client, seconds=0), "succeeded")  # by its replacement
        finally:
            worker.stop()
