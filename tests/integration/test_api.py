"""The REST contract on SQLite and PostgreSQL: validation, status, ETag, listing, cancel/retry refusals, health,
OpenAPI.

No worker runs here: jobs are moved between states through jobs.lifecycle on the stack's database.
"""
from __future__ import annotations

import base64
import io
import re
import uuid
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from werkzeug.test import TestResponse

from jobs import lifecycle
from jobs.db import utcnow
from jobs.enqueue import submit_job
from jobs.models import Job
from tests.conftest import Stack

pytestmark = pytest.mark.integration

CLOSED_PORT_BROKER = "amqp://guest:guest@127.0.0.1:1//"


# --- helpers -------------------------------------------------------------------------------------

def submit(client: FlaskClient) -> str:
    """A queued diagnostics.sleep job submitted through the API (it never sleeps if a worker ever runs it)."""
    response = client.post("/api/diagnostics/sleep", json={"seconds": 0})
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def move(stack: Stack, job_id: str, target: str) -> None:
    """Move a queued (or running) job to `target` the way a worker would, directly in the stack's database."""
    with stack.db.transaction() as session:
        job = lifecycle.load_for_update(session, job_id)
        if target == "cancelled":
            lifecycle.request_cancel(session, job)
            return
        if job.state != "running":
            delivery = lifecycle.begin_attempt(session, job_id, redelivered=False, worker="test", max_worker_lost=3)
            assert delivery.decision is lifecycle.Decision.RUN
        if target == "succeeded":
            lifecycle.succeed(session, job_id, job.attempts, {"ok": True})
        elif target == "failed":
            lifecycle.fail(session, job_id, job.attempts, {"type": "Boom", "message": "it broke"})
        else:
            assert target == "running"


def job_count(stack: Stack) -> int:
    with stack.db.read_session() as session:
        return session.scalar(select(func.count()).select_from(Job)) or 0


def state_of(client: FlaskClient, job_id: str) -> str:
    response = client.get(f"/api/jobs/{job_id}")
    assert response.status_code == 200
    return response.get_json()["state"]


def assert_error(response: TestResponse, status: int) -> dict[str, Any]:
    """The response is the API's JSON error with `status`; return its `error` object."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error = response.get_json()["error"]
    assert error["status"] == status and error["message"]
    return error


def field_names(response: TestResponse) -> set[str]:
    """The fields a 422 names, each with a non-empty reason."""
    error = assert_error(response, 422)
    for item in error["fields"]:
        assert isinstance(item["reason"], str) and item["reason"], item
    return {item["field"] for item in error["fields"]}


def list_jobs(client: FlaskClient, **params: Any) -> dict[str, Any]:
    response = client.get("/api/jobs", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


# --- POST /api/diagnostics/sleep -----------------------------------------------------------------

def test_valid_submission_is_accepted_with_location_and_defaults(client: FlaskClient) -> None:
    response = client.post("/api/diagnostics/sleep", json={"seconds": 0, "steps": 2})
    assert response.status_code == 202
    job = response.get_json()
    assert response.headers["Location"] == f"/api/jobs/{job['id']}"
    assert job["state"] == "queued" and job["kind"] == "diagnostics.sleep"
    assert job["params"] == {"seconds": 0, "fail_times": 0, "steps": 2, "ignore_soft_limit": False}
    assert state_of(client, job["id"]) == "queued"


@pytest.mark.parametrize(
    "body",
    [
        '{"seconds": 1,',
        '{"seconds": }',
        "not json at all",
        pytest.param(
            "[" * 10_000,
            id="deeply-nested",
        ),
    ],
)
def test_malformed_json_is_400(stack: Stack, client: FlaskClient, body: str) -> None:
    before = job_count(stack)
    response = client.post("/api/diagnostics/sleep", data=body, content_type="application/json")
    assert_error(response, 400)
    assert job_count(stack) == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_non_json_content_type_is_415(stack: Stack, client: FlaskClient, content_type: str | None) -> None:
    before = job_count(stack)
    response = client.post("/api/diagnostics/sleep", data='{"seconds": 1}', content_type=content_type)
    assert_error(response, 415)
    assert job_count(stack) == before


@pytest.mark.parametrize(
    ("body", "expected_fields"),
    [
        ({"seconds": "abc"}, {"seconds"}),
        ({"seconds": -1}, {"seconds"}),
        ({"seconds": 3601}, {"seconds"}),
        ({"steps": 0}, {"steps"}),
        ({"steps": 1.5}, {"steps"}),
        ({"fail_times": -1}, {"fail_times"}),
        ({"colour": "red"}, {"colour"}),
        ([{"seconds": 1}], {"body"}),
        ("seconds", {"body"}),
        (
            {"seconds": "abc", "steps": 0, "fail_times": -1, "colour": "red", "shape": "round"},
            {"seconds", "steps", "fail_times", "colour", "shape"},
        ),
    ],
    ids=["seconds-abc", "seconds-negative", "seconds-too-big", "steps-0", "steps-float", "fail_times-negative",
         "unknown-field", "body-list", "body-string", "five-bad-fields"],
)
def test_invalid_fields_are_422_naming_each_field_with_a_reason(
    stack: Stack, client: FlaskClient, body: Any, expected_fields: set[str]
) -> None:
    before = job_count(stack)
    response = client.post("/api/diagnostics/sleep", json=body)
    assert field_names(response) == expected_fields
    assert job_count(stack) == before


def test_json_null_body_is_422_like_any_other_non_object(client: FlaskClient) -> None:
    response = client.post("/api/diagnostics/sleep", data="null", content_type="application/json")
    assert field_names(response) == {"body"}


# --- GET /api/jobs/<id> --------------------------------------------------------------------------

@pytest.mark.parametrize("job_id", [str(uuid.uuid4()), "not-a-uuid", "12345", "00000000-0000-0000-0000-00000000000g"])
def test_unknown_or_malformed_job_id_is_404_json(client: FlaskClient, job_id: str) -> None:
    error = assert_error(client.get(f"/api/jobs/{job_id}"), 404)
    assert job_id in error["message"]


def test_job_has_an_etag_and_if_none_match_gives_304_until_it_changes(stack: Stack, client: FlaskClient) -> None:
    job_id = submit(client)
    url = f"/api/jobs/{job_id}"
    first = client.get(url)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert etag

    unchanged = client.get(url, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.get_data() == b""
    assert unchanged.headers["ETag"] == etag
    assert client.get(url, headers={"If-None-Match": '"something-else"'}).status_code == 200

    move(stack, job_id, "running")
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.get_json()["state"] == "running"
    assert changed.headers["ETag"] != etag


def test_job_payload_shows_its_attempt_history(stack: Stack, client: FlaskClient) -> None:
    job_id = submit(client)
    move(stack, job_id, "succeeded")
    job = client.get(f"/api/jobs/{job_id}").get_json()
    assert job["state"] == "succeeded" and job["attempts"] == 1 and job["result"] == {"ok": True}
    assert [a["outcome"] for a in job["attempt_history"]] == ["succeeded"]
    assert job["finished_at"].endswith("Z")


@pytest.mark.parametrize("finished", ["succeeded", "failed", "cancelled"])
def test_retry_after_while_unfinished_and_absent_once_finished(
    stack: Stack, client: FlaskClient, finished: str
) -> None:
    job_id = submit(client)
    url = f"/api/jobs/{job_id}"
    queued = client.get(url)
    assert queued.headers["Retry-After"] == "2"
    assert client.get(url, headers={"If-None-Match": queued.headers["ETag"]}).headers["Retry-After"] == "2"
    if finished != "cancelled":
        move(stack, job_id, "running")
        assert client.get(url).headers["Retry-After"] == "1"
    move(stack, job_id, "cancelled" if finished == "cancelled" else finished)

    done = client.get(url)
    assert done.status_code == 200 and done.get_json()["state"] == finished
    assert "Retry-After" not in done.headers
    not_modified = client.get(url, headers={"If-None-Match": done.headers["ETag"]})
    assert not_modified.status_code == 304
    assert "Retry-After" not in not_modified.headers


# --- GET /api/jobs -------------------------------------------------------------------------------

def walk_pages(client: FlaskClient, limit: int, **filters: str) -> list[list[dict[str, Any]]]:
    """Every page of the listing, following next_cursor."""
    pages, cursor = [], None
    while True:
        params = {"limit": limit, **filters, **({"cursor": cursor} if cursor else {})}
        body = list_jobs(client, **params)
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 1000, "pagination does not end"


def test_listing_is_newest_first(client: FlaskClient) -> None:
    ids = [submit(client) for _ in range(3)]
    items = list_jobs(client, limit=3)["items"]
    assert [item["id"] for item in items] == ids[::-1]


def test_pagination_visits_every_job_exactly_once_newest_first(stack: Stack, client: FlaskClient) -> None:
    ids = [submit(client) for _ in range(7)]
    # Four of them share one creation time, so a page boundary falls inside a tie.
    with stack.db.transaction() as session:
        session.execute(update(Job).where(Job.id.in_([uuid.UUID(i) for i in ids[3:]])).values(created_at=utcnow()))
    with stack.db.read_session() as session:
        all_ids = {str(job_id) for job_id in session.scalars(select(Job.id))}

    pages = walk_pages(client, limit=3)
    assert all(len(page) == 3 for page in pages[:-1]) and 1 <= len(pages[-1]) <= 3
    seen = [item["id"] for page in pages for item in page]
    assert len(seen) == len(set(seen)), "a job was listed twice"
    assert set(seen) == all_ids, "a job was never listed"
    created = [datetime.fromisoformat(item["created_at"]) for page in pages for item in page]
    assert created == sorted(created, reverse=True)
    assert set(seen[:4]) == set(ids[3:])  # the tied four are the newest


def test_state_filter(stack: Stack, client: FlaskClient) -> None:
    failed, queued = submit(client), submit(client)
    move(stack, failed, "failed")
    items = list_jobs(client, state="failed", limit=100)["items"]
    assert items and all(item["state"] == "failed" for item in items)
    assert failed in [item["id"] for item in items]
    assert queued not in [item["id"] for item in items]
    assert queued in [item["id"] for item in list_jobs(client, state="queued", limit=100)["items"]]


def test_kind_filter(stack: Stack, client: FlaskClient) -> None:
    sleep_id = submit(client)
    with stack.db.transaction() as session:
        noop, _message = submit_job(session, "diagnostics.noop", {})
    noops = list_jobs(client, kind="diagnostics.noop", limit=100)["items"]
    assert noops and all(item["kind"] == "diagnostics.noop" for item in noops)
    assert str(noop.id) in [item["id"] for item in noops]
    sleeps = list_jobs(client, kind="diagnostics.sleep", limit=100)["items"]
    assert all(item["kind"] == "diagnostics.sleep" for item in sleeps)
    assert sleep_id in [item["id"] for item in sleeps] and str(noop.id) not in [item["id"] for item in sleeps]


def test_filters_combine_with_pagination(stack: Stack, client: FlaskClient) -> None:
    mine = [submit(client) for _ in range(3)]
    for job_id in mine:
        move(stack, job_id, "succeeded")
    seen = [item for page in walk_pages(client, limit=2, state="succeeded", kind="diagnostics.sleep") for item in page]
    assert all(item["state"] == "succeeded" and item["kind"] == "diagnostics.sleep" for item in seen)
    assert len({item["id"] for item in seen}) == len(seen)
    assert set(mine) <= {item["id"] for item in seen}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"state": "bogus"}, "state"),
        ({"state": "QUEUED"}, "state"),
        ({"kind": "invoices.pdf"}, "kind"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": base64.urlsafe_b64encode(b"yesterday|nobody").decode()}, "cursor"),
        ({"colour": "red"}, "colour"),
        pytest.param(
            {"cursor": base64.urlsafe_b64encode(f"2024-01-01T00:00:00|{uuid.uuid4()}".encode()).decode()},
            "cursor",
            id="cursor-naive-timestamp",
        ),
    ],
)
def test_bad_listing_parameter_is_422_naming_it(client: FlaskClient, params: dict[str, str], field: str) -> None:
    assert field in field_names(client.get("/api/jobs", query_string=params))


# --- POST /api/jobs/<id>/cancel and /retry -------------------------------------------------------

@pytest.mark.parametrize("action", ["cancel", "retry"])
@pytest.mark.parametrize("job_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_cancel_or_retry_of_an_unknown_job_is_404(client: FlaskClient, action: str, job_id: str) -> None:
    assert_error(client.post(f"/api/jobs/{job_id}/{action}"), 404)


def test_cancel_of_a_queued_job_is_202_and_cancels_it(client: FlaskClient) -> None:
    job_id = submit(client)
    response = client.post(f"/api/jobs/{job_id}/cancel")
    assert response.status_code == 202
    assert response.get_json()["state"] == "cancelled"
    assert state_of(client, job_id) == "cancelled"


@pytest.mark.parametrize("finished", ["succeeded", "failed", "cancelled"])
def test_cancel_of_a_finished_job_is_409_and_changes_nothing(stack: Stack, client: FlaskClient, finished: str) -> None:
    job_id = submit(client)
    move(stack, job_id, finished)
    before = client.get(f"/api/jobs/{job_id}")
    error = assert_error(client.post(f"/api/jobs/{job_id}/cancel"), 409)
    assert finished in error["message"]
    after = client.get(f"/api/jobs/{job_id}")
    assert after.get_json()["state"] == finished
    assert after.headers["ETag"] == before.headers["ETag"]


def test_cancel_of_a_running_job_is_202_and_requests_a_stop(stack: Stack, client: FlaskClient) -> None:
    job_id = submit(client)
    move(stack, job_id, "running")
    etag = client.get(f"/api/jobs/{job_id}").headers["ETag"]
    response = client.post(f"/api/jobs/{job_id}/cancel")
    assert response.status_code == 202
    assert response.get_json()["state"] == "running" and response.get_json()["cancel_requested"] is True
    # A polling client sees the request: the ETag changed although state and progress did not.
    polled = client.get(f"/api/jobs/{job_id}", headers={"If-None-Match": etag})
    assert polled.status_code == 200
    assert polled.get_json()["cancel_requested"] is True


@pytest.mark.parametrize("state", ["queued", "running", "succeeded", "cancelled"])
def test_retry_of_a_job_that_has_not_failed_is_409(stack: Stack, client: FlaskClient, state: str) -> None:
    job_id = submit(client)
    if state != "queued":
        move(stack, job_id, state)
    error = assert_error(client.post(f"/api/jobs/{job_id}/retry"), 409)
    assert state in error["message"]
    assert state_of(client, job_id) == state


def test_retry_of_a_failed_job_is_202_and_queues_it(stack: Stack, client: FlaskClient) -> None:
    job_id = submit(client)
    move(stack, job_id, "failed")
    response = client.post(f"/api/jobs/{job_id}/retry")
    assert response.status_code == 202
    assert response.headers["Location"] == f"/api/jobs/{job_id}"
    assert response.get_json()["state"] == "queued"
    assert state_of(client, job_id) == "queued"
    assert_error(client.post(f"/api/jobs/{job_id}/retry"), 409)


# --- health ---------------------------------------------------------------------------------------

def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_with_the_real_broker_and_database(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "ready"
    assert response.get_json()["checks"] == {"database": "ok", "broker": "ok"}


def test_readyz_names_the_broker_when_it_is_unreachable(stack: Stack) -> None:
    offline = stack.client(stack.app(broker_url=CLOSED_PORT_BROKER))
    response = offline.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["failed"] == ["broker"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"] != "ok"


def test_readyz_names_the_dependency_that_is_down_without_hosts_or_users(stack: Stack) -> None:
    offline = stack.app(database_url="postgresql+psycopg://dbadmin-secret@127.0.0.1:1/payroll",
                        broker_url="amqp://mquser-secret:pw@127.0.0.1:1//").test_client()
    response = offline.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failed"] == ["broker", "database"]
    assert body["checks"]["database"].startswith("unavailable") and body["checks"]["broker"].startswith("unavailable")
    text = response.get_data(as_text=True)
    for secret in ("dbadmin-secret", "mquser-secret", "127.0.0.1", "payroll", "port 1"):
        assert secret not in text


# --- Idempotency-Key on every submit endpoint ----------------------------------------------------

def test_an_idempotency_key_answers_the_first_diagnostic_job_and_refuses_another_body(
        stack: Stack, client: FlaskClient) -> None:
    key = {"Idempotency-Key": f"sleep-{uuid.uuid4().hex}"}
    before = job_count(stack)
    first = client.post("/api/diagnostics/sleep", json={"seconds": 0}, headers=key)
    again = client.post("/api/diagnostics/sleep", json={"seconds": 0}, headers=key)
    assert first.status_code == again.status_code == 202
    assert again.get_json()["id"] == first.get_json()["id"] and again.headers["Location"] == first.headers["Location"]
    other = client.post("/api/diagnostics/sleep", json={"seconds": 1}, headers=key)
    assert other.status_code == 422
    assert other.get_json()["error"]["fields"] == [
        {"field": "Idempotency-Key", "reason": "already used with a different request body"}]
    assert job_count(stack) == before + 1


@pytest.mark.parametrize("key", ["", " ", "x" * 201, "bad\x01key"])
def test_an_unusable_idempotency_key_is_422_naming_the_header(client: FlaskClient, key: str) -> None:
    response = client.post("/api/diagnostics/sleep", json={"seconds": 0}, headers={"Idempotency-Key": key})
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"][0]["field"] == "Idempotency-Key"


def test_an_upload_replayed_with_its_key_answers_the_first_import_and_keeps_one_file(
        stack: Stack, client: FlaskClient) -> None:
    upload_dir = stack.settings.upload_dir
    before = set(upload_dir.glob("*")) if upload_dir.exists() else set()
    key = {"Idempotency-Key": f"import-{uuid.uuid4().hex}"}
    answers = [client.post("/api/etl", headers=key, content_type="multipart/form-data", data={
        "dataset": "customers", "file": (io.BytesIO(b"customer_id,name,email,country\n1,Ann,a@x.io,DE\n"), "c.csv")})
        for _ in range(2)]
    assert [answer.status_code for answer in answers] == [202, 202]
    job_id = answers[0].get_json()["id"]
    assert answers[1].get_json()["id"] == job_id
    assert {path.name for path in set(upload_dir.glob("*")) - before} == {f"{job_id}.upload"}


def test_the_openapi_document_gives_every_submit_endpoint_its_idempotency_key(client: FlaskClient) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]
    for path in ("/api/diagnostics/sleep", "/api/etl", "/api/invoices", "/api/invoices/batch"):
        operation = paths[path]["post"]
        assert "Idempotency-Key" in [parameter["name"] for parameter in operation.get("parameters", [])], path
        assert {"202", "409", "422", "429"} <= set(operation["responses"]), path
    assert "parameters" not in paths["/api/jobs/{job_id}/cancel"]["post"] or "Idempotency-Key" not in [
        parameter["name"] for parameter in paths["/api/jobs/{job_id}/cancel"]["post"]["parameters"]]


# --- OpenAPI -------------------------------------------------------------------------------------

def openapi_path(rule: str) -> str:
    """Flask's `<job_id>` / `<int:n>` as OpenAPI's `{job_id}` / `{n}`."""
    return re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule)


def test_openapi_documents_every_api_route_and_method(app: Flask, client: FlaskClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]

    routes = [rule for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/") or rule.rule in ("/healthz", "/readyz")]
    assert len(routes) >= 8
    missing = [
        f"{method} {openapi_path(rule.rule)}"
        for rule in routes
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        if method.lower() not in paths.get(openapi_path(rule.rule), {})
    ]
    assert missing == []


def test_openapi_path_conversion() -> None:
    assert openapi_path("/api/jobs/<job_id>/cancel") == "/api/jobs/{job_id}/cancel"
    assert openapi_path("/x/<int:n>/<path:rest>") == "/x/{n}/{rest}"
