"""Dead letters on SQLite and PostgreSQL with a real worker and broker: list, replay, discard, the page."""
from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Stack
from tests.integration.test_api import CLOSED_PORT_BROKER, assert_error
from tests.integration.test_sign_in import csrf_token, sign_in
from tests.support.accounts import Account
from tests.support.api import get_job, submit_sleep, wait_for_state
from tests.support.dead_letters import plant_dead_letter, plant_raw_dead_letter
from tests.support.processes import CeleryWorker, wait_for
from tests.support.services import queue_depth

pytestmark = pytest.mark.integration

DEAD_QUEUE = "diagnostics.dead"
ALWAYS_FAILS = 3  # JOB_MAX_RETRIES is 2 in the tests: three attempts, then the dead-letter queue


@pytest.fixture(autouse=True)
def no_dead_letters(client: FlaskClient) -> None:
    """Each test starts with empty dead-letter queues (other modules leave messages there)."""
    assert client.post("/api/dead-letters/discard-all").status_code == 200


def listing(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/dead-letters")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def dead_item(client: FlaskClient, job_id: str) -> dict[str, Any] | None:
    return next((item for item in listing(client)["items"] if item["job_id"] == job_id), None)


def dead_job(client: FlaskClient) -> str:
    """A diagnostics.sleep job that fails every attempt, waited for until its message is dead-lettered."""
    job_id = submit_sleep(client, seconds=0, fail_times=ALWAYS_FAILS)
    wait_for_state(client, job_id, "failed", timeout=60)
    wait_for(lambda: dead_item(client, job_id), 20, interval=0.2, what=f"job {job_id} in {DEAD_QUEUE}")
    return job_id


def audit_actions(client: FlaskClient, job_id: str) -> list[tuple[str, str]]:
    return [(entry["action"], entry["by"]) for entry in get_job(client, job_id)["audit"]]


def test_a_job_that_keeps_failing_is_listed_with_its_error_and_attempts(
    stack: Stack, client: FlaskClient, worker: CeleryWorker
) -> None:
    job_id = dead_job(client)
    item = dead_item(client, job_id)
    assert item is not None
    assert item["queue"] == DEAD_QUEUE and item["original_queue"] == "diagnostics"
    assert item["kind"] == "diagnostics.sleep"
    assert item["job_state"] == "failed" and item["attempts"] == ALWAYS_FAILS
    assert "planned transient failure 3 of 3" in item["error"]["message"]
    assert "gave up after 3 attempts" in item["error"]["message"]
    assert item["death_reason"] == "rejected" and item["death_count"] == 1
    assert item["died_at"].endswith("Z") and item["age_s"] >= 0
    assert item["links"]["job"] == f"/api/jobs/{job_id}"


def test_listing_leaves_every_message_in_its_queue(stack: Stack, client: FlaskClient, worker: CeleryWorker) -> None:
    first, second = dead_job(client), dead_job(client)
    depth = queue_depth(stack.broker_url, DEAD_QUEUE)
    assert depth == 2

    listings = [listing(client) for _ in range(3)]

    assert [[item["job_id"] for item in body["items"]] for body in listings] == [[first, second]] * 3
    assert all({"queue": DEAD_QUEUE, "total": 2} in body["queues"] for body in listings)
    assert queue_depth(stack.broker_url, DEAD_QUEUE) == depth


def test_a_replay_runs_the_job_again_and_empties_the_dead_letter_queue(
    stack: Stack, client: FlaskClient, operator: Account, worker: CeleryWorker
) -> None:
    job_id = dead_job(client)

    response = client.post(f"/api/dead-letters/{job_id}/replay")

    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.get_json()["published"] is True and response.get_json()["messages_removed"] == 1
    assert response.headers["Location"] == f"/api/jobs/{job_id}"
    job = wait_for_state(client, job_id, "succeeded")
    assert job["attempts"] == ALWAYS_FAILS + 1
    assert audit_actions(client, job_id)[-1] == ("replayed", operator.email)
    assert dead_item(client, job_id) is None
    assert queue_depth(stack.broker_url, DEAD_QUEUE) == 0


def test_a_discard_removes_the_message_and_the_job_stays_failed(
    stack: Stack, client: FlaskClient, operator: Account, worker: CeleryWorker
) -> None:
    job_id = dead_job(client)

    response = client.post(f"/api/dead-letters/{job_id}/discard")

    assert response.status_code == 200 and response.get_json()["messages_removed"] == 1
    assert queue_depth(stack.broker_url, DEAD_QUEUE) == 0
    job = get_job(client, job_id)
    assert job["state"] == "failed" and job["attempts"] == ALWAYS_FAILS
    assert audit_actions(client, job_id)[-1] == ("discarded", operator.email)
    assert_error(client.post(f"/api/dead-letters/{job_id}/replay"), 404)


def test_replay_all_runs_every_failed_job_again(stack: Stack, client: FlaskClient, worker: CeleryWorker) -> None:
    jobs = [dead_job(client), dead_job(client)]

    response = client.post("/api/dead-letters/replay-all")

    assert response.status_code == 200
    assert sorted(response.get_json()["replayed"]) == sorted(jobs) and response.get_json()["skipped"] == []
    for job_id in jobs:
        assert wait_for_state(client, job_id, "succeeded")["attempts"] == ALWAYS_FAILS + 1
    assert listing(client)["total"] == 0


def test_a_job_retried_through_the_api_cannot_be_replayed_but_its_message_can_be_discarded(
    stack: Stack, client: FlaskClient, worker: CeleryWorker
) -> None:
    job_id = dead_job(client)
    assert client.post(f"/api/jobs/{job_id}/retry").status_code == 202
    wait_for_state(client, job_id, "succeeded")
    item = dead_item(client, job_id)
    assert item is not None and item["job_state"] == "succeeded"

    refused = assert_error(client.post(f"/api/dead-letters/{job_id}/replay"), 409)

    assert "succeeded, not failed" in refused["message"] and "discard" in refused["message"]
    assert get_job(client, job_id)["attempts"] == ALWAYS_FAILS + 1
    assert queue_depth(stack.broker_url, DEAD_QUEUE) == 1
    assert client.post(f"/api/dead-letters/{job_id}/discard").status_code == 200
    assert queue_depth(stack.broker_url, DEAD_QUEUE) == 0


def test_a_message_of_an_unknown_job_is_shown_refused_for_replay_and_discardable(
    stack: Stack, client: FlaskClient
) -> None:
    job_id = str(uuid.uuid4())
    plant_dead_letter(stack.broker_url, job_id)
    item = dead_item(client, job_id)
    assert item is not None and item["job_state"] is None and item["kind"] == "diagnostics.sleep"

    assert "not in the database" in assert_error(client.post(f"/api/dead-letters/{job_id}/replay"), 409)["message"]
    assert client.post(f"/api/dead-letters/{job_id}/discard").get_json()["messages_removed"] == 1
    assert dead_item(client, job_id) is None


CRAFTED = [
    (b"not json at all", {"x-death": [{"count": "many", "reason": "rejected", "queue": "diagnostics"}]}),
    (b"[" * 50_000 + b"]" * 50_000, {"task": "diagnostics.sleep"}),  # deeper than json can recurse
    (b"[[\"" + b"x" * 200_000 + b"\"], {}, {}]", {"x-death": "not a list", "id": "y" * 5000}),
    (b"[[], {}, {}]", None),  # no headers at all
    (b'[["00000000-0000-0000-0000-00000000000g"], {}, {}]', {"x-death": [], "task": {"nested": ["table"]}}),
    (b"\xff\xfe binary", {"x-death": [{"count": 2**62, "time": "yesterday"}]}),
]


def test_crafted_messages_are_listed_as_unparseable_and_the_rest_keeps_working(
    stack: Stack, client: FlaskClient, browser: FlaskClient, worker: CeleryWorker
) -> None:
    for body, headers in CRAFTED:
        plant_raw_dead_letter(stack.broker_url, body, headers)
    real = dead_job(client)

    page = listing(client)
    crafted = [item for item in page["items"] if item["job_id"] is None]
    assert len(crafted) == len(CRAFTED)
    assert all(item["unparseable"] for item in crafted)
    assert any("death count is not a number" in item["unparseable"] for item in crafted)
    assert any("no headers" in item["unparseable"] for item in crafted)
    mine = next(item for item in page["items"] if item["job_id"] == real)
    assert mine["unparseable"] is None and mine["job_state"] == "failed"

    replayed = client.post("/api/dead-letters/replay-all")
    assert replayed.status_code == 200
    assert replayed.get_json()["replayed"] == [real]
    wait_for_state(client, real, "succeeded")
    assert listing(client)["total"] == len(CRAFTED)  # the crafted ones stay, for a person to look at
    page_html = browser.get("/dead-letters")
    assert page_html.status_code == 200 and page_html.get_data(as_text=True).count(">unparseable<") == len(CRAFTED)

    assert client.post("/api/dead-letters/discard-all").status_code == 200
    assert listing(client)["total"] == 0


def test_an_unknown_or_malformed_id_is_404(client: FlaskClient) -> None:
    assert "no dead-letter queue" in assert_error(
        client.post(f"/api/dead-letters/{uuid.uuid4()}/replay"), 404)["message"]
    assert_error(client.post("/api/dead-letters/not-a-uuid/discard"), 404)


def test_a_broker_outage_is_a_readable_503(stack: Stack, operator: Account) -> None:
    from tests.support.accounts import token_client

    offline = stack.app(broker_url=CLOSED_PORT_BROKER)
    api = token_client(offline, operator.token)
    for response in (api.get("/api/dead-letters"), api.post(f"/api/dead-letters/{uuid.uuid4()}/replay"),
                     api.post("/api/dead-letters/discard-all")):
        assert "broker cannot be reached" in assert_error(response, 503)["message"]
    page = token_client(offline, operator.token).get("/dead-letters")
    assert page.status_code == 503 and "cannot be read now" in page.get_data(as_text=True)


# --- the page ------------------------------------------------------------------------------------

@pytest.fixture
def browser(app: Flask, operator: Account) -> FlaskClient:
    """An operator signed in with a session, as in a browser."""
    browser = app.test_client()
    assert sign_in(browser, operator.email, operator.password).status_code == 302
    return browser


def test_the_page_lists_the_row_and_discards_after_a_confirm_step(
    stack: Stack, client: FlaskClient, browser: FlaskClient, worker: CeleryWorker
) -> None:
    job_id = dead_job(client)
    page = browser.get("/dead-letters")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'href="/jobs/{job_id}"' in text and "diagnostics.sleep" in text and "planned transient failure" in text

    confirm = browser.post(f"/dead-letters/{job_id}/discard", data={"csrf_token": csrf_token(page)})
    assert confirm.status_code == 200 and "Yes, discard" in confirm.get_data(as_text=True)
    assert queue_depth(stack.broker_url, DEAD_QUEUE) == 1, "the first press only asks"
    done = browser.post(f"/dead-letters/{job_id}/discard", data={"csrf_token": csrf_token(confirm), "confirm": "yes"})
    assert done.status_code == 303 and done.headers["Location"] == "/dead-letters"

    after = browser.get("/dead-letters").get_data(as_text=True)
    assert f"The dead letter of job {job_id} was discarded" in after and f'href="/jobs/{job_id}"' not in after
    assert get_job(client, job_id)["state"] == "failed"


def test_the_page_replays_after_a_confirm_step(stack: Stack, client: FlaskClient, browser: FlaskClient,
                                               worker: CeleryWorker) -> None:
    job_id = dead_job(client)
    page = browser.get("/dead-letters")
    confirm = browser.post(f"/dead-letters/{job_id}/replay", data={"csrf_token": csrf_token(page)})
    assert "Yes, replay" in confirm.get_data(as_text=True)

    done = browser.post(f"/dead-letters/{job_id}/replay", data={"csrf_token": csrf_token(confirm), "confirm": "yes"},
                        follow_redirects=True)

    assert f"Job {job_id} was replayed" in done.get_data(as_text=True)
    assert wait_for_state(client, job_id, "succeeded")["audit"][-1]["action"] == "replayed"


def test_a_press_without_the_csrf_token_changes_nothing(stack: Stack, client: FlaskClient, browser: FlaskClient,
                                                        worker: CeleryWorker) -> None:
    job_id = dead_job(client)
    response = browser.post(f"/dead-letters/{job_id}/discard", data={"confirm": "yes"})
    assert response.status_code == 400
    assert queue_depth(stack.broker_url, DEAD_QUEUE) == 1
