"""Flower as the Procfile starts it (basic auth, persistent state under VAR_DIR, the broker API), with a real worker."""
from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from config.flower import flower_options
from tests.conftest import Stack
from tests.integration.test_access import unpublished_job
from tests.integration.test_sign_in import sign_in
from tests.support.accounts import token_client
from tests.support.api import submit_sleep, wait_for_state
from tests.support.live_app import answers, free_port
from tests.support.processes import CeleryWorker, ManagedProcess, wait_for

pytestmark = pytest.mark.integration

AUTH = "flower:flower-test-password"


@dataclass
class Flower:
    process: ManagedProcess
    url: str
    db_path: Path

    def get(self, path: str, auth: str | None = AUTH) -> tuple[int, str]:
        request = urllib.request.Request(self.url + path)
        if auth:
            request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def get_json(self, path: str) -> Any:
        status, body = self.get(path)
        assert status == 200, body[:500]
        return json.loads(body)


def management_api_available() -> bool:
    """RabbitMQ's management plugin, enabled as `make run` does when it is off (Flower's broker tab reads it)."""
    if answers("http://127.0.0.1:15672/"):
        return True
    try:
        subprocess.run(["rabbitmq-plugins", "enable", "rabbitmq_management"], check=True, capture_output=True,
                       timeout=120)
        wait_for(lambda: answers("http://127.0.0.1:15672/"), 30, what="the management plugin")
    except (OSError, subprocess.SubprocessError, AssertionError):
        return False
    return True


@pytest.fixture(scope="module")
def management() -> bool:
    return management_api_available()


@pytest.fixture(scope="module")
def flower(stack: Stack, management: bool) -> Iterator[Flower]:
    port = free_port()
    process = stack.process(  # the Procfile's flower line
        [sys.executable, "-m", "celery", "-A", "tasks.worker", "flower", "--conf=config/flowerconfig.py"],
        "flower", FLOWER_HOST="127.0.0.1", FLOWER_PORT=str(port), FLOWER_BASIC_AUTH=AUTH).start()
    url = f"http://127.0.0.1:{port}/flower"
    try:
        wait_for(lambda: answers(url + "/healthcheck"), 60, what="Flower to answer")
        yield Flower(process, url, Path(str(flower_options(stack.settings)["db"])))
    finally:
        process.stop()


def test_flower_keeps_its_state_under_var_dir(stack: Stack) -> None:
    options = flower_options(stack.settings)
    assert Path(str(options["db"])).parent == stack.settings.var_dir
    assert str(options["broker_api"]).startswith("http://guest:guest@127.0.0.1:15672/api/")


def test_flower_needs_its_credentials(flower: Flower) -> None:
    for path in ("/", "/api/workers", "/api/tasks", "/broker"):
        assert flower.get(path, auth=None)[0] == 401
        assert flower.get(path, auth="flower:wrong")[0] == 401


def test_flower_lists_the_worker_and_the_task_it_ran(
    stack: Stack, flower: Flower, worker: CeleryWorker, client: Any
) -> None:
    node = worker.node.replace("%h", "")
    wait_for(lambda: any(name.startswith(node) for name in flower.get_json("/api/workers?refresh=1")), 30,
             interval=1, what=f"worker {node} in Flower")
    # Workers send task events only once a monitor asks (WORKER_TASK_EVENTS is off): Flower turns them
    # on in every worker it sees, every 5 s.
    wait_for(lambda: "Events of group {task} enabled by remote" in worker.log_text(), 30, interval=0.5,
             what=f"Flower to turn on the task events of {node}")

    job_id = submit_sleep(client, seconds=0)
    wait_for_state(client, job_id, "succeeded")

    # The Celery task id of a job's message is the job id.
    task = wait_for(lambda: (flower.get_json("/api/tasks").get(job_id) or {}).get("state") == "SUCCESS"
                    and flower.get_json("/api/tasks")[job_id], 30, interval=0.5, what="the task in Flower")
    assert task["name"] == "diagnostics.sleep"  # type: ignore[index]
    assert task["worker"].startswith(node)  # type: ignore[index]


# --- Flower behind the app: /flower/ for the app's roles, control actions for admins -----------------

@pytest.fixture(scope="module")
def proxied(stack: Stack, flower: Flower) -> Flask:
    """The web app, pointed at the test's Flower as the Procfile's processes share their settings."""
    port = int(flower.url.rsplit(":", 1)[1].split("/", 1)[0])
    return stack.app(flower_port=port, flower_basic_auth=AUTH)


def test_operators_read_flower_through_the_app_without_a_second_password(
    stack: Stack, flower: Flower, proxied: Flask, worker: CeleryWorker
) -> None:
    operator = token_client(proxied, stack.account("operator").token)
    page = operator.get("/flower/")
    assert page.status_code == 200 and "Flower" in page.get_data(as_text=True)
    workers = wait_for(lambda: operator.get("/flower/api/workers?refresh=1").get_json() or None, 30, interval=1,
                       what="the workers through the proxy")
    assert any(name.startswith(worker.node.replace("%h", "")) for name in workers)
    assert token_client(proxied, stack.account("viewer").token).get("/flower/").status_code == 403
    assert proxied.test_client().get("/flower/").status_code == 302  # people are sent to sign in
    assert proxied.test_client().get("/flower/api/workers", headers={"Accept": "application/json"}).status_code in (
        302, 401)


def test_flower_control_actions_are_for_admins_and_audited(stack: Stack, flower: Flower, proxied: Flask) -> None:
    job_id = unpublished_job(stack)
    operator = token_client(proxied, stack.account("operator").token)
    refused = operator.post(f"/flower/api/task/revoke/{job_id}")
    assert refused.status_code == 403 and "admin" in refused.get_data(as_text=True)
    admin_account = stack.account("admin")
    admin = token_client(proxied, admin_account.token)
    done = admin.post(f"/flower/api/task/revoke/{job_id}")
    assert done.status_code == 200, done.get_data(as_text=True)
    trail = admin.get(f"/api/jobs/{job_id}").get_json()["audit"]
    assert [(entry["action"], entry["by"]) for entry in trail][-1] == ("flower control", admin_account.email)

    browser = proxied.test_client()
    assert sign_in(browser, admin_account.email, admin_account.password).status_code == 302
    assert browser.post(f"/flower/api/task/revoke/{job_id}").status_code == 403  # no Origin: not from our pages
    same_site = browser.post(f"/flower/api/task/revoke/{job_id}", headers={"Origin": "http://localhost"})
    assert same_site.status_code == 200, same_site.get_data(as_text=True)[-600:]


def test_a_stopped_flower_is_a_readable_502(stack: Stack) -> None:
    client = token_client(stack.app(flower_port=1), stack.account("operator").token)
    response = client.get("/flower/api/workers")
    assert response.status_code == 502 and "Flower is not answering" in response.get_data(as_text=True)


def queue_row(page: str, queue: str) -> list[str] | None:
    """Name, messages, unacked, ready and consumers of a queue on Flower's broker tab; None until it has figures."""
    found = re.search(rf'<tr id="{re.escape(queue)}">(.*?)</tr>', page, re.S)
    if found is None:
        return None
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", found.group(1), re.S)]
    return cells[:5] if all(cell.isdigit() for cell in cells[1:5]) else None  # "—" while the API has none


def test_flower_broker_tab_shows_the_queues_from_the_management_api(
    flower: Flower, worker: CeleryWorker, management: bool
) -> None:
    if not management:
        pytest.skip("RabbitMQ's management plugin is not available here")
    def consumed_row() -> list[str] | None:
        row = queue_row(flower.get("/broker")[1], "diagnostics")
        return row if row and int(row[4]) >= 1 else None  # the broker's figures lag a few seconds behind

    row = wait_for(consumed_row, 30, interval=1, what="the diagnostics queue and its consumer on Flower's broker tab")
    name, messages, unacked, ready, _consumers = row  # type: ignore[misc]
    assert name == "diagnostics" and int(messages) == int(unacked) + int(ready)


def test_flower_saves_its_state_on_stop(flower: Flower) -> None:
    flower.process.stop()
    assert list(flower.db_path.parent.glob(flower.db_path.name + "*"))  # shelve may add a suffix
