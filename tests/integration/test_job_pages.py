"""The pages people watch: the job list, the live job page (Server-Sent Events) with cancel and retry, the overview."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from config.settings import load_settings
from jobs.db import Database
from jobs.enqueue import submit_job
from tests.conftest import Stack
from tests.integration.test_access import unpublished_job
from tests.integration.test_api import CLOSED_PORT_BROKER, move
from tests.integration.test_sign_in import csrf_token, sign_in
from tests.support.accounts import Account, make_account, token_client
from tests.support.api import get_job, submit_sleep
from tests.support.processes import CeleryWorker
from webapp.commands import upgrade_database

pytestmark = pytest.mark.integration


@pytest.fixture
def person(stack: Stack) -> Account:
    return stack.account("operator")


@pytest.fixture
def browser(app: Flask, person: Account) -> FlaskClient:
    """A signed-in operator's browser session (cookies and CSRF, no token)."""
    client = app.test_client()
    assert sign_in(client, person.email, person.password).status_code == 302
    return client


def events(response: TestResponse) -> Iterator[tuple[str, dict[str, Any], str | None]]:
    """(event name, data, id) for each event of a text/event-stream response, as they arrive."""
    buffer = ""
    for chunk in response.response:  # type: ignore[attr-defined]
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            fields = dict(line.split(": ", 1) for line in block.splitlines()
                          if ": " in line and not line.startswith(":"))
            if "event" in fields:
                yield fields["event"], json.loads(fields["data"]), fields.get("id")


def test_the_event_stream_follows_a_job_from_queued_to_done(
    stack: Stack, client: FlaskClient, worker: CeleryWorker
) -> None:
    job_id = submit_sleep(client, seconds=1.5, steps=3)
    response = client.get(f"/api/jobs/{job_id}/events")
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    seen = []
    try:
        for name, data, event_id in events(response):
            seen.append((name, data))
            if name == "end":
                break
            assert data["id"] == job_id and event_id
    finally:
        response.close()
    states = [data["state"] for name, data in seen if name == "job"]
    assert states[-1] == "succeeded"
    assert "running" in states, states
    progress = [data["progress"]["done"] for name, data in seen if name == "job" and data["state"] == "running"]
    assert progress == sorted(progress) and len(set(progress)) >= 2, progress
    assert seen[-1] == ("end", {"reason": "job finished"})
    final = [data for name, data in seen if name == "job"][-1]
    assert final["attempt_history"][0]["outcome"] == "succeeded"


def test_a_reconnecting_stream_does_not_resend_what_the_page_has(stack: Stack, client: FlaskClient) -> None:
    job_id = unpublished_job(stack)
    move(stack, job_id, "failed")
    with client.get(f"/api/jobs/{job_id}/events") as first:
        [(name, _data, etag), end] = list(events(first))
    assert name == "job" and end[0] == "end"
    with client.get(f"/api/jobs/{job_id}/events", headers={"Last-Event-ID": etag}) as again:
        assert again.status_code == 200
        assert [name for name, _data, _id in events(again)] == ["end"]


def test_a_closed_stream_gives_its_slot_back(stack: Stack) -> None:
    client = stack.client(stack.app(sse_max_streams=1), "viewer")
    job_id = unpublished_job(stack)
    move(stack, job_id, "failed")
    for _ in range(3):  # one slot, used three times in turn
        with client.get(f"/api/jobs/{job_id}/events") as response:
            assert response.status_code == 200
    with client.get(f"/api/jobs/{job_id}/events") as held:
        assert held.status_code == 200
        assert client.get(f"/api/jobs/{job_id}/events").status_code == 503


def test_one_user_holding_streams_leaves_slots_for_another(stack: Stack) -> None:
    app = stack.app(sse_max_streams=4, sse_max_streams_per_user=2)
    greedy, other = stack.client(app, "viewer"), stack.client(app, "viewer")
    job_id = unpublished_job(stack)  # queued: its streams stay open
    with greedy.get(f"/api/jobs/{job_id}/events") as first, greedy.get(f"/api/jobs/{job_id}/events") as second:
        assert first.status_code == second.status_code == 200
        third = greedy.get(f"/api/jobs/{job_id}/events")
        assert third.status_code == 429 and third.headers["Retry-After"] == "1"
        assert "poll" in third.get_json()["error"]["message"]
        with other.get(f"/api/jobs/{job_id}/events") as theirs:
            assert theirs.status_code == 200  # another user still gets a live page
    with greedy.get(f"/api/jobs/{job_id}/events") as again:  # closed streams gave the user's slots back
        assert again.status_code == 200


def test_a_server_without_free_stream_slots_sends_the_page_to_polling(stack: Stack) -> None:
    app = stack.app(sse_max_streams=0)
    client = stack.client(app, "viewer")
    response = client.get(f"/api/jobs/{unpublished_job(stack)}/events")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert "poll" in response.get_json()["error"]["message"]


def test_a_stream_for_a_job_that_never_existed_is_404(client: FlaskClient) -> None:
    assert client.get("/api/jobs/00000000-0000-0000-0000-000000000000/events").status_code == 404
    assert client.get("/api/jobs/not-a-uuid/events").status_code == 404


def test_an_unfinished_job_stream_ends_at_its_time_limit_and_says_when_to_reconnect(stack: Stack) -> None:
    client = stack.client(stack.app(sse_max_s=0.3, sse_poll_interval_s=0.05), "viewer")
    response = client.get(f"/api/jobs/{unpublished_job(stack)}/events")
    body = response.get_data(as_text=True)
    assert body.startswith("retry: 1000")
    assert body.count("event: job") == 1 and "event: end" not in body  # still queued: the browser reconnects


def test_the_job_list_filters_by_state_and_kind_and_pages(stack: Stack, browser: FlaskClient) -> None:
    failed = [unpublished_job(stack) for _ in range(3)]
    for job_id in failed:
        move(stack, job_id, "failed")
    queued = unpublished_job(stack)
    page = browser.get("/jobs?state=failed&kind=diagnostics.sleep&limit=2")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert queued[:8] not in html
    shown = re.findall(r"<code>(\w{8})</code>", html)
    assert shown == [failed[2][:8], failed[1][:8]], "not the two newest failed jobs, newest first"
    older = re.search(r'href="(/jobs\?[^"]*cursor=[^"]+)"', html)
    assert older, "no link to older jobs"
    rest = browser.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert failed[0][:8] in rest and failed[2][:8] not in rest
    assert 'class="badge badge-failed"' in html


def test_the_job_list_explains_a_bad_filter(browser: FlaskClient) -> None:
    page = browser.get("/jobs?state=exploded")
    assert page.status_code == 422
    assert "Traceback" not in page.get_data(as_text=True)


def test_the_job_page_cancels_a_queued_job_and_retries_a_failed_one(stack: Stack, browser: FlaskClient) -> None:
    queued = unpublished_job(stack)
    page = browser.get(f"/jobs/{queued}")
    assert 'id="cancel-form"' in page.get_data(as_text=True)
    done = browser.post(f"/jobs/{queued}/cancel", data={"csrf_token": csrf_token(page)})
    assert done.status_code == 303
    after = browser.get(done.headers["Location"]).get_data(as_text=True)
    assert "Cancellation requested." in after
    assert get_job(browser, queued)["state"] == "cancelled"
    again = browser.post(f"/jobs/{queued}/cancel", data={"csrf_token": csrf_token(page)})
    refused = browser.get(again.headers["Location"]).get_data(as_text=True)
    assert "only queued, retrying or running jobs can be cancelled" in refused

    failed = unpublished_job(stack)
    move(stack, failed, "failed")
    browser.post(f"/jobs/{failed}/retry", data={"csrf_token": csrf_token(page)})
    job = get_job(browser, failed)
    assert job["state"] in {"queued", "running", "succeeded"}  # a worker may already have taken it
    assert [entry["action"] for entry in job["audit"]][-1] == "retried"


def test_a_job_page_form_without_csrf_is_refused(stack: Stack, browser: FlaskClient) -> None:
    queued = unpublished_job(stack)
    assert browser.post(f"/jobs/{queued}/cancel").status_code == 400
    assert get_job(browser, queued)["state"] == "queued"


def test_a_viewer_sees_no_cancel_button(stack: Stack, app: Flask) -> None:
    viewer = stack.account("viewer")
    client = app.test_client()
    sign_in(client, viewer.email, viewer.password)
    html = client.get(f"/jobs/{unpublished_job(stack)}").get_data(as_text=True)
    assert 'id="cancel-form"' not in html and "Dead letters" not in html


def test_the_overview_counts_jobs_and_reads_queue_depths(stack: Stack, tmp_path: Path) -> None:
    # A database of its own: the session's other tests (and their workers) change the shared one's counts.
    settings = load_settings(stack.env, database_url=f"sqlite:///{tmp_path / 'overview.db'}")
    upgrade_database(settings)
    db = Database(settings.resolved_database_url)
    try:
        client = token_client(stack.app(database_url=settings.database_url), make_account(db, "viewer").token)
        before = client.get("/api/overview").get_json()
        with db.transaction() as session:  # a job written and not yet relayed
            submit_job(session, "diagnostics.sleep", {"seconds": 0, "fail_times": 0, "steps": 1})
        after = client.get("/api/overview").get_json()
    finally:
        db.dispose()
    assert (before["jobs_by_state"]["queued"], after["jobs_by_state"]["queued"]) == (0, 1)
    assert (before["outbox"]["unsent"], after["outbox"]["unsent"]) == (0, 1)
    assert {queue["name"] for queue in after["queues"]} >= {"invoices", "etl", "diagnostics.dead"}


def test_the_overview_says_so_when_the_broker_is_down(stack: Stack) -> None:
    client = stack.client(stack.app(broker_url=CLOSED_PORT_BROKER), "viewer")
    response = client.get("/api/overview")
    assert response.status_code == 200
    assert response.get_json()["queues"] is None
    page = client.get("/").get_data(as_text=True)
    assert "The broker does not answer" in page


def test_the_navigation_links_to_flower_where_browsers_reach_it(stack: Stack) -> None:
    operator = stack.account("operator")
    for overrides, expected in (({}, 'href="/flower/"'),  # the app's own proxy of Flower
                                ({"flower_public_url": "https://flower.example.test/"},
                                 'href="https://flower.example.test/"')):
        client = stack.app(**overrides).test_client()
        sign_in(client, operator.email, operator.password)
        assert expected in client.get("/jobs").get_data(as_text=True)
