"""People in a browser: sign-in, sign-out, redirects, cookies, CSRF, lock-out; and the hardened defaults."""
from __future__ import annotations

import re
import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from jobs.models import Job
from tests.conftest import Stack
from tests.integration.test_access import unpublished_job
from tests.integration.test_api import assert_error
from tests.support.accounts import Account, token_client

pytestmark = pytest.mark.integration

CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_token(page: TestResponse) -> str:
    match = CSRF_FIELD.search(page.get_data(as_text=True))
    assert match, "the page has no CSRF field"
    return match.group(1) or match.group(2)


def sign_in(client: FlaskClient, email: str, password: str, next_path: str = "") -> TestResponse:
    page = client.get("/login", query_string={"next": next_path} if next_path else None)
    data = {"email": email, "password": password, "next": next_path, "csrf_token": csrf_token(page)}
    return client.post("/login", data=data)


def job_count(stack: Stack) -> int:
    with stack.db.read_session() as session:
        return session.scalar(select(func.count()).select_from(Job)) or 0


@pytest.fixture
def person(stack: Stack) -> Account:
    return stack.account("operator")


@pytest.fixture
def browser(app: Flask) -> FlaskClient:
    return app.test_client()


# --- sign-in, redirect, sign-out -----------------------------------------------------------------

def test_a_page_sends_a_stranger_to_sign_in_and_back_after(browser: FlaskClient, person: Account) -> None:
    refused = browser.get("/?tab=queues")
    assert refused.status_code == 302
    assert refused.headers["Location"] == "/login?next=/?tab%3Dqueues"

    signed_in = sign_in(browser, person.email.upper(), person.password, next_path="/?tab=queues")
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"] == "/?tab=queues"
    home = browser.get("/")
    assert home.status_code == 200
    assert person.email in home.get_data(as_text=True)


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example",
                                    "javascript:alert(1)"])
def test_sign_in_never_redirects_off_site(browser: FlaskClient, person: Account, target: str) -> None:
    response = sign_in(browser, person.email, person.password, next_path=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("wrong", ["password", "email"])
def test_a_wrong_password_or_email_gets_one_message_and_no_session(
    browser: FlaskClient, person: Account, wrong: str
) -> None:
    email = f"nobody-{uuid.uuid4().hex[:6]}@example.test" if wrong == "email" else person.email
    password = "not the password at all" if wrong == "password" else person.password
    response = sign_in(browser, email, password)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "Wrong email or password." in text
    assert password not in text  # the password field is not filled back in
    assert browser.get("/").status_code == 302


def test_sign_out_ends_the_session(browser: FlaskClient, person: Account) -> None:
    assert sign_in(browser, person.email, person.password).status_code == 302
    home = browser.get("/")
    response = browser.post("/logout", data={"csrf_token": csrf_token(home)})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert browser.get("/").status_code == 302
    assert_error(browser.get("/api/jobs"), 401)


def test_session_cookie_is_httponly_and_lax_and_secure_only_over_https(app: Flask, person: Account) -> None:
    plain = app.test_client()
    cookie = sign_in(plain, person.email, person.password).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie

    secure = app.test_client()
    page = secure.get("/login", base_url="https://jobs.example")
    data = {"email": person.email, "password": person.password, "csrf_token": csrf_token(page)}
    response = secure.post("/login", data=data, base_url="https://jobs.example",
                           headers={"Referer": "https://jobs.example/login"})
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_a_disabled_user_is_signed_out_at_the_next_request(stack: Stack, app: Flask, admin: Account) -> None:
    person = stack.account("viewer")
    browser = app.test_client()
    assert sign_in(browser, person.email, person.password).status_code == 302
    assert browser.get("/").status_code == 200
    admin_client = token_client(app, admin.token)
    user_id = next(u["id"] for u in admin_client.get("/api/users").get_json()["items"] if u["email"] == person.email)
    assert admin_client.post(f"/api/users/{user_id}/disable").status_code == 200
    assert browser.get("/").status_code == 302
    assert sign_in(browser, person.email, person.password).status_code == 200  # cannot sign in again


@pytest.fixture
def admin(stack: Stack) -> Account:
    return stack.account("admin")


# --- CSRF ----------------------------------------------------------------------------------------

def test_sign_in_without_a_csrf_token_is_400_and_signs_nobody_in(browser: FlaskClient, person: Account) -> None:
    response = browser.post("/login", data={"email": person.email, "password": person.password})
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    assert browser.get("/").status_code == 302


def test_a_forged_csrf_token_is_400(browser: FlaskClient, person: Account) -> None:
    browser.get("/login")
    response = browser.post("/login", data={"email": person.email, "password": person.password,
                                            "csrf_token": "forged.token.value"})
    assert response.status_code == 400
    assert browser.get("/").status_code == 302


def test_a_session_write_needs_the_csrf_header_and_changes_nothing_without_it(
    stack: Stack, browser: FlaskClient, client: FlaskClient, person: Account
) -> None:
    job_id = unpublished_job(stack)
    assert sign_in(browser, person.email, person.password).status_code == 302
    refused = browser.post(f"/api/jobs/{job_id}/cancel")
    assert_error(refused, 400)
    assert client.get(f"/api/jobs/{job_id}").get_json()["state"] == "queued"

    token = csrf_token(browser.get("/"))
    accepted = browser.post(f"/api/jobs/{job_id}/cancel", headers={"X-CSRFToken": token})
    assert accepted.status_code == 202
    audit = client.get(f"/api/jobs/{job_id}").get_json()["audit"]
    assert (audit[-1]["action"], audit[-1]["by"], audit[-1]["via"]) == ("cancelled", person.email, "session")


def test_sign_out_without_a_csrf_token_is_400_and_keeps_the_session(browser: FlaskClient, person: Account) -> None:
    assert sign_in(browser, person.email, person.password).status_code == 302
    assert browser.post("/logout").status_code == 400
    assert browser.get("/").status_code == 200


def test_a_bearer_token_needs_no_csrf_token(client: FlaskClient) -> None:
    assert client.post("/api/diagnostics/sleep", json={"seconds": 0}).status_code == 202


# --- lock-out and rate limits --------------------------------------------------------------------

def test_repeated_failed_sign_ins_lock_the_account_out_from_that_address(stack: Stack) -> None:
    app = stack.app(login_rate_limit="3 per 15 minutes")
    person, other = stack.account("viewer"), stack.account("viewer")
    browser = app.test_client()
    for _ in range(3):
        assert sign_in(browser, person.email, "wrong password, again").status_code == 200
    locked = sign_in(browser, person.email, person.password)  # even the right password now
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in locked.get_data(as_text=True)
    assert browser.get("/").status_code == 302
    assert sign_in(browser, other.email, other.password).status_code == 302  # another account is not locked


def test_successful_sign_ins_do_not_count_toward_the_lock_out(stack: Stack) -> None:
    app = stack.app(login_rate_limit="2 per 15 minutes")
    person = stack.account("viewer")
    for _ in range(4):
        assert sign_in(app.test_client(), person.email, person.password).status_code == 302


def test_submitting_faster_than_a_tokens_limit_gets_429_with_retry_after(stack: Stack) -> None:
    app = stack.app(submit_rate_limit_per_token="3 per minute", submit_rate_limit_per_user="100 per minute")
    client = token_client(app, stack.account("operator").token)
    before = job_count(stack)
    responses = [client.post("/api/diagnostics/sleep", json={"seconds": 0}) for _ in range(3)]
    assert [response.status_code for response in responses] == [202, 202, 202]
    # Below the limit the 202 keeps its own polling hint; rate-limit headers never replace it.
    assert all(response.headers["Retry-After"] == "2" for response in responses)
    refused = client.post("/api/diagnostics/sleep", json={"seconds": 0})
    error = assert_error(refused, 429)
    assert "too many jobs" in error["message"]
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert job_count(stack) == before + 3
    assert client.get("/api/jobs").status_code == 200  # reading is not limited


def test_a_users_tokens_share_the_per_user_limit(stack: Stack) -> None:
    app = stack.app(submit_rate_limit_per_token="3 per minute", submit_rate_limit_per_user="4 per minute")
    account = stack.account("operator")
    with stack.db.transaction() as session:
        from accounts import directory

        _row, second_token = directory.create_token(session, account.email, "second")
    first, second = token_client(app, account.token), token_client(app, second_token)
    assert [first.post("/api/diagnostics/sleep", json={}).status_code for _ in range(3)] == [202, 202, 202]
    assert second.post("/api/diagnostics/sleep", json={}).status_code == 202
    assert_error(second.post("/api/diagnostics/sleep", json={}), 429)
    someone_else = token_client(app, stack.account("operator").token)
    assert someone_else.post("/api/diagnostics/sleep", json={}).status_code == 202


# --- hardened defaults ---------------------------------------------------------------------------

def test_an_oversized_request_is_413_json_and_creates_nothing(stack: Stack) -> None:
    app = stack.app(max_request_kb=1)
    client = token_client(app, stack.account("operator").token)
    before = job_count(stack)
    padding = "x" * 2048
    response = client.post("/api/diagnostics/sleep", data='{"seconds": 0, "pad": "' + padding + '"}',
                           content_type="application/json")
    error = assert_error(response, 413)
    assert "1 KiB" in error["message"]
    assert job_count(stack) == before


@pytest.mark.parametrize("path", ["/login", "/healthz", "/api/jobs", "/api/jobs/not-a-job"])
def test_security_headers_on_pages_and_api(app: Flask, client: FlaskClient, path: str) -> None:
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_pages_have_no_inline_script_or_style(browser: FlaskClient, person: Account) -> None:
    sign_in(browser, person.email, person.password)
    for path in ("/login", "/"):
        html = browser.get(path).get_data(as_text=True)
        assert "<script>" not in html and "style=" not in html and "<style" not in html and "onclick" not in html


def test_a_database_failure_shows_no_stack_trace_or_sql(stack: Stack) -> None:
    broken = stack.app(database_url="postgresql+psycopg://postgres@127.0.0.1:5432/no_such_database_here")
    api = token_client(broken, "jbt_whatever").get("/api/jobs")
    page = sign_in(broken.test_client(), "someone@example.test", "any password at all")
    # A database that cannot be reached is a 503 the client may retry (Retry-After), never the error's text.
    for response in (api, page):
        text = response.get_data(as_text=True)
        assert response.status_code == 503, text
        assert "the database is unavailable; try again shortly" in text and response.headers["Retry-After"] == "1"
        for leak in ("Traceback", "sqlalchemy", "SELECT", "psycopg", "no_such_database_here", 'File "'):
            assert leak not in text
    assert_error(api, 503)
