"""Who may call what, on SQLite and PostgreSQL: each role against each endpoint, sign-in, CSRF, tokens, limits.

Every request goes through the real app on the stack's database; no worker is needed (jobs only
need to exist in a given state).
"""
from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from werkzeug.test import TestResponse

from accounts import directory
from accounts.models import ApiToken, User
from etl.errors_report import ErrorsReport
from etl.storage import errors_path
from invoicing.document import write_invoice_pdf
from invoicing.models import Invoice
from invoicing.money import LineItem
from invoicing.options import InvoicingOptions
from invoicing.party import Party
from invoicing.request import InvoiceRequest
from invoicing.store import store_invoice
from jobs.db import utcnow
from jobs.enqueue import submit_job
from jobs.models import Job
from tests.conftest import Stack
from tests.integration.test_api import CLOSED_PORT_BROKER, assert_error, move, submit
from tests.support.accounts import PASSWORD, Account, token_client
from tests.support.dead_letters import plant_dead_letter
from tests.support.processes import wait_for
from webapp.errors import JSON_PATHS

pytestmark = pytest.mark.integration

ROLES = ["viewer", "operator", "admin"]
RANK = {"anonymous": -1, "viewer": 0, "operator": 1, "admin": 2}


@pytest.fixture(scope="session")
def accounts(stack: Stack) -> dict[str, Account]:
    """One account per role on the stack (hashing passwords is slow, so they are shared)."""
    return {role: stack.account(role) for role in ROLES}


@pytest.fixture
def admin_client(app: Flask, accounts: dict[str, Account]) -> FlaskClient:
    return token_client(app, accounts["admin"].token)


def job_count(stack: Stack) -> int:
    with stack.db.read_session() as session:
        return session.scalar(select(func.count()).select_from(Job)) or 0


def fresh_user_id(stack: Stack) -> int:
    account = stack.account("viewer")
    with stack.db.read_session() as session:
        user = directory.get_user(session, account.email)
        return user.id


def fresh_schedule(admin_client: FlaskClient) -> int:
    """A paused schedule (no beat runs here anyway)."""
    response = admin_client.post("/api/schedules", json={"name": f"s-{uuid.uuid4().hex[:8]}",
                                                         "kind": "diagnostics.noop", "rule": "every 1 minute",
                                                         "enabled": False})
    assert response.status_code == 201, response.get_data(as_text=True)
    return int(response.get_json()["id"])


def fresh_token(stack: Stack) -> tuple[int, int]:
    """(user id, token id) of a new viewer's token."""
    account = stack.account("viewer")
    with stack.db.read_session() as session:
        user = directory.get_user(session, account.email)
        return user.id, directory.list_tokens(session, user)[0].id


# --- the access table ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    method: str
    rule: str  # as in app.url_map
    weakest_role: str  # "public", "viewer", "operator" or "admin"
    success: int
    path: Callable[[Stack, FlaskClient], str] = lambda _stack, _client: ""
    body: Callable[[], dict | None] = lambda: None
    form: Callable[[], dict | None] = lambda: None

    @property
    def is_page(self) -> bool:
        return not self.rule.startswith("/api/") and self.rule not in JSON_PATHS and self.weakest_role != "public"


def unpublished_job(stack: Stack) -> str:
    """A queued job written straight to the database: no worker can take it before the test acts on it."""
    with stack.db.transaction() as session:
        job, _message = submit_job(session, "diagnostics.sleep", {"seconds": 0, "fail_times": 0, "steps": 1})
    return str(job.id)


@pytest.fixture(scope="module")
def offline_app(stack: Stack) -> Flask:
    """The app with an unreachable broker: submitted jobs stay queued (their outbox rows wait for a relay)."""
    return stack.app(broker_url=CLOSED_PORT_BROKER)


def _queued_job(stack: Stack, client: FlaskClient) -> str:
    return f"/api/jobs/{unpublished_job(stack)}"


def _failed_job(stack: Stack, client: FlaskClient) -> str:
    job_id = unpublished_job(stack)
    move(stack, job_id, "failed")
    return f"/api/jobs/{job_id}"


def _dead_letter(stack: Stack, client: FlaskClient) -> str:
    """A failed job whose message is in diagnostics.dead (planted there: no worker runs in these tests)."""
    job_id = _failed_job(stack, client).rsplit("/", 1)[1]
    plant_dead_letter(stack.broker_url, job_id)
    return job_id


CASES = [
    Case("GET", "/healthz", "public", 200, lambda s, c: "/healthz"),
    Case("GET", "/readyz", "public", 200, lambda s, c: "/readyz"),
    Case("GET", "/", "viewer", 200, lambda s, c: "/"),
    Case("GET", "/api/openapi.json", "viewer", 200, lambda s, c: "/api/openapi.json"),
    Case("GET", "/api/me", "viewer", 200, lambda s, c: "/api/me"),
    Case("GET", "/api/jobs", "viewer", 200, lambda s, c: "/api/jobs"),
    Case("GET", "/api/jobs/<job_id>", "viewer", 200, _queued_job),
    Case("POST", "/api/diagnostics/sleep", "operator", 202, lambda s, c: "/api/diagnostics/sleep",
         lambda: {"seconds": 0}),
    Case("POST", "/api/jobs/<job_id>/cancel", "operator", 202, lambda s, c: _queued_job(s, c) + "/cancel"),
    Case("POST", "/api/jobs/<job_id>/retry", "operator", 202, lambda s, c: _failed_job(s, c) + "/retry"),
    Case("POST", "/api/etl", "operator", 202, lambda s, c: "/api/etl", form=lambda: {
        "dataset": "customers", "file": (io.BytesIO(b"customer_id,name,email,country\n1,Ann,a@x.io,DE\n"), "c.csv")}),
    Case("GET", "/api/etl/<job_id>", "viewer", 200, lambda s, c: f"/api/etl/{staged_import(s, c)}"),
    Case("GET", "/api/etl/<job_id>/errors.csv", "viewer", 200,
         lambda s, c: f"/api/etl/{staged_import(s, c, with_report=True)}/errors.csv"),
    Case("GET", "/imports", "viewer", 200, lambda s, c: "/imports"),
    Case("GET", "/imports/new", "operator", 200, lambda s, c: "/imports/new"),
    Case("POST", "/imports/new", "operator", 303, lambda s, c: "/imports/new", form=lambda: {
        "dataset": "customers", "file": (io.BytesIO(b"customer_id,name,email,country\n1,Ann,a@x.io,DE\n"), "c.csv")}),
    Case("POST", "/api/invoices", "operator", 202, lambda s, c: "/api/invoices", lambda: {
        "customer": {"name": "Ann", "email": "ann@example.test"}, "currency": "EUR",
        "items": [{"description": "x", "quantity": "1", "unit_price": "1", "tax_rate": "0"}]}),
    Case("POST", "/api/invoices/batch", "operator", 202, lambda s, c: "/api/invoices/batch",
         lambda: {"period_start": "2000-01-01", "period_end": "2000-01-31"}),
    Case("GET", "/api/invoices", "viewer", 200, lambda s, c: "/api/invoices"),
    Case("GET", "/api/invoices/<invoice_id>", "viewer", 200, lambda s, c: f"/api/invoices/{stored_invoice(s)}"),
    Case("GET", "/api/invoices/<invoice_id>/pdf", "viewer", 200,
         lambda s, c: f"/api/invoices/{stored_invoice(s, with_pdf=True)}/pdf"),
    Case("GET", "/invoices", "viewer", 200, lambda s, c: "/invoices"),
    Case("GET", "/invoices/new", "operator", 200, lambda s, c: "/invoices/new"),
    Case("POST", "/invoices/new", "operator", 303, lambda s, c: "/invoices/new", form=lambda: {
        "customer-name": "Ann", "customer-email": "ann@example.test", "currency": "EUR",
        "items-0-description": "x", "items-0-quantity": "1", "items-0-unit_price": "1", "items-0-tax_rate": "0"}),
    Case("GET", "/jobs/<job_id>", "viewer", 200, lambda s, c: "/jobs/" + unpublished_job(s)),
    Case("GET", "/jobs", "viewer", 200, lambda s, c: "/jobs?state=queued"),
    Case("POST", "/jobs/<job_id>/cancel", "operator", 303,
         lambda s, c: _queued_job(s, c).replace("/api", "") + "/cancel"),
    Case("POST", "/jobs/<job_id>/retry", "operator", 303,
         lambda s, c: _failed_job(s, c).replace("/api", "") + "/retry"),
    Case("GET", "/api/jobs/<job_id>/events", "viewer", 200, lambda s, c: _failed_job(s, c) + "/events"),
    Case("GET", "/api/overview", "viewer", 200, lambda s, c: "/api/overview"),
    Case("GET", "/metrics", "viewer", 200, lambda s, c: "/metrics"),
    Case("GET", "/api/dead-letters", "operator", 200, lambda s, c: "/api/dead-letters"),
    Case("POST", "/api/dead-letters/<job_id>/replay", "operator", 202,
         lambda s, c: f"/api/dead-letters/{_dead_letter(s, c)}/replay"),
    Case("POST", "/api/dead-letters/<job_id>/discard", "operator", 200,
         lambda s, c: f"/api/dead-letters/{_dead_letter(s, c)}/discard"),
    Case("POST", "/api/dead-letters/replay-all", "operator", 200, lambda s, c: "/api/dead-letters/replay-all"),
    Case("POST", "/api/dead-letters/discard-all", "operator", 200, lambda s, c: "/api/dead-letters/discard-all"),
    Case("GET", "/dead-letters", "operator", 200, lambda s, c: "/dead-letters"),
    Case("POST", "/dead-letters/<job_id>/replay", "operator", 303,
         lambda s, c: f"/dead-letters/{_dead_letter(s, c)}/replay", form=lambda: {"confirm": "yes"}),
    Case("POST", "/dead-letters/<job_id>/discard", "operator", 303,
         lambda s, c: f"/dead-letters/{_dead_letter(s, c)}/discard", form=lambda: {"confirm": "yes"}),
    Case("POST", "/dead-letters/replay-all", "operator", 303, lambda s, c: "/dead-letters/replay-all",
         form=lambda: {"confirm": "yes"}),
    Case("POST", "/dead-letters/discard-all", "operator", 303, lambda s, c: "/dead-letters/discard-all",
         form=lambda: {"confirm": "yes"}),
    Case("GET", "/api/users", "admin", 200, lambda s, c: "/api/users"),
    Case("POST", "/api/users", "admin", 201, lambda s, c: "/api/users",
         lambda: {"email": f"new-{uuid.uuid4().hex[:8]}@example.test", "role": "viewer", "password": PASSWORD}),
    Case("POST", "/api/users/<int:user_id>/disable", "admin", 200,
         lambda s, c: f"/api/users/{fresh_user_id(s)}/disable"),
    Case("POST", "/api/users/<int:user_id>/tokens", "admin", 201,
         lambda s, c: f"/api/users/{fresh_user_id(s)}/tokens", lambda: {"name": "deploy-bot"}),
    Case("GET", "/api/schedules", "viewer", 200, lambda s, c: "/api/schedules"),
    Case("GET", "/schedules", "viewer", 200, lambda s, c: "/schedules"),
    Case("POST", "/api/schedules", "operator", 201, lambda s, c: "/api/schedules", lambda: {
        "name": f"nightly-{uuid.uuid4().hex[:8]}", "kind": "diagnostics.noop", "rule": "0 3 * * *",
        "timezone": "Europe/Madrid", "enabled": False}),
    Case("GET", "/api/schedules/<int:schedule_id>", "viewer", 200, lambda s, c: f"/api/schedules/{fresh_schedule(c)}"),
    Case("DELETE", "/api/schedules/<int:schedule_id>", "operator", 204,
         lambda s, c: f"/api/schedules/{fresh_schedule(c)}"),
    Case("PATCH", "/api/schedules/<int:schedule_id>", "operator", 200,
         lambda s, c: f"/api/schedules/{fresh_schedule(c)}", lambda: {"rule": "0 4 * * *"}),
    Case("POST", "/schedules/<int:schedule_id>/pause", "operator", 303,
         lambda s, c: f"/schedules/{fresh_schedule(c)}/pause"),
    Case("POST", "/schedules/<int:schedule_id>/resume", "operator", 303,
         lambda s, c: f"/schedules/{fresh_schedule(c)}/resume"),
    Case("POST", "/schedules/<int:schedule_id>/run-now", "operator", 303,
         lambda s, c: f"/schedules/{fresh_schedule(c)}/run-now"),
    Case("POST", "/api/schedules/<int:schedule_id>/pause", "operator", 200,
         lambda s, c: f"/api/schedules/{fresh_schedule(c)}/pause"),
    Case("POST", "/api/schedules/<int:schedule_id>/resume", "operator", 200,
         lambda s, c: f"/api/schedules/{fresh_schedule(c)}/resume"),
    Case("POST", "/api/schedules/<int:schedule_id>/run-now", "operator", 202,
         lambda s, c: f"/api/schedules/{fresh_schedule(c)}/run-now"),
    # Flower behind the app: no Flower runs for this table, so getting through is the proxy's readable 502
    # (tests/integration/test_flower.py runs the proxy against a real Flower).
    Case("GET", "/flower/", "operator", 502, lambda s, c: "/flower/"),
    Case("GET", "/flower/<path:path>", "operator", 502, lambda s, c: "/flower/tasks"),
    Case("POST", "/flower/", "operator", 502, lambda s, c: "/flower/"),
    Case("POST", "/flower/<path:path>", "operator", 502, lambda s, c: "/flower/tasks/datatable"),
    Case("GET", "/api/users/<int:user_id>/tokens", "admin", 200,
         lambda s, c: f"/api/users/{fresh_user_id(s)}/tokens"),
    Case("POST", "/api/users/<int:user_id>/tokens/<int:token_id>/revoke", "admin", 200,
         lambda s, c: "/api/users/{}/tokens/{}/revoke".format(*fresh_token(s))),
]

# Sign-in and sign-out are for everyone by nature and have tests of their own; static files are public.
OUTSIDE_THE_TABLE = {("GET", "/login"), ("POST", "/login"), ("POST", "/logout"), ("GET", "/static/<path:filename>")}


def test_every_route_is_in_the_access_table(app: Flask) -> None:
    """A new endpoint must be added to CASES, so its access rule is tested."""
    routes = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert routes - OUTSIDE_THE_TABLE == {(case.method, case.rule) for case in CASES}


def call(client: FlaskClient, case: Case, path: str) -> TestResponse:
    body, form = case.body(), case.form()
    if form is not None:
        return client.open(path, method=case.method, data=form, content_type="multipart/form-data")
    if body is not None:
        return client.open(path, method=case.method, json=body)
    return client.open(path, method=case.method)


def stored_invoice(stack: Stack, with_pdf: bool = False) -> str:
    """An invoice stored straight through the invoicing service (its job written to the database)."""
    job_id = uuid.UUID(unpublished_job(stack))
    request = InvoiceRequest(customer=Party("Ann", email="ann@example.test"), currency="EUR",
                             items=(LineItem("x", Decimal(1), Decimal(1), Decimal(0)),))
    options = InvoicingOptions(seller=Party("Seller"), invoice_dir=stack.settings.invoice_dir, due_days=30)
    with stack.db.transaction() as session:
        invoice = store_invoice(session, job_id, request, options)
    if with_pdf:
        path = write_invoice_pdf(invoice, options.invoice_dir, options.seller)
        with stack.db.transaction() as session:
            session.execute(update(Invoice).where(Invoice.id == invoice.id).values(pdf_path=str(path)))
    return str(invoice.id)


def staged_import(stack: Stack, admin_client: FlaskClient, with_report: bool = False) -> str:
    """An import accepted with the broker unreachable (no worker takes it); optionally with its report started."""
    offline = stack.client(stack.app(broker_url=CLOSED_PORT_BROKER), "operator")
    response = offline.post("/api/etl", data={"dataset": "customers", "file": (
        io.BytesIO(b"customer_id,name,email,country\n1,Ann,a@x.io,DE\n"), "c.csv")}, content_type="multipart/form-data")
    assert response.status_code == 202, response.get_data(as_text=True)
    job_id = response.get_json()["id"]
    if with_report:
        ErrorsReport(errors_path(stack.settings.upload_dir, uuid.UUID(job_id))).truncate(0)
    return job_id


@pytest.mark.parametrize("who", ["anonymous", *ROLES])
@pytest.mark.parametrize("case", CASES, ids=[f"{c.method} {c.rule}" for c in CASES])
def test_each_role_against_each_endpoint(
    stack: Stack, app: Flask, admin_client: FlaskClient, accounts: dict[str, Account], case: Case, who: str
) -> None:
    path = case.path(stack, admin_client)
    client = app.test_client() if who == "anonymous" else token_client(app, accounts[who].token)
    jobs_before = job_count(stack)
    with call(client, case, path) as response:  # closed at the end: an event stream gives back its slot
        check_answer(case, who, response)
    if response.status_code >= 400:
        assert job_count(stack) == jobs_before, "a refused request changed something"


def check_answer(case: Case, who: str, response: TestResponse) -> None:
    """Allowed: the case's success; too weak: 403; anonymous: 401 for programs, the sign-in page for people."""
    if case.weakest_role == "public" or RANK[who] >= RANK[case.weakest_role]:
        assert response.status_code == case.success, response.get_data(as_text=True)
    elif who == "anonymous" and case.is_page:
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")
    elif who == "anonymous":
        error = assert_error(response, 401)
        assert "token" in error["message"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    elif case.is_page:
        assert response.status_code == 403 and response.mimetype == "text/html"
        assert f"needs the {case.weakest_role} role" in response.get_data(as_text=True)
    else:
        error = assert_error(response, 403)
        assert case.weakest_role in error["message"]


def test_a_refused_cancel_leaves_the_job_as_it_was(stack: Stack, app: Flask, client: FlaskClient,
                                                  accounts: dict[str, Account]) -> None:
    job_id = unpublished_job(stack)
    viewer = token_client(app, accounts["viewer"].token)
    assert_error(viewer.post(f"/api/jobs/{job_id}/cancel"), 403)
    assert client.get(f"/api/jobs/{job_id}").get_json()["state"] == "queued"


# --- tokens --------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("header", "error_code"),
    [
        ("Bearer jbt_not-a-real-token", "invalid_token"),
        ("Bearer ", "invalid_request"),
        ("Basic YWRtaW46YWRtaW4=", "invalid_request"),
        ("jbt_without_scheme", "invalid_request"),
    ],
)
def test_a_bad_token_is_401_with_www_authenticate(app: Flask, header: str, error_code: str) -> None:
    response = app.test_client().get("/api/jobs", headers={"Authorization": header})
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"] == f'Bearer realm="jobs", error="{error_code}"'


def test_disabling_a_user_revokes_their_token_at_once(stack: Stack, app: Flask, admin_client: FlaskClient) -> None:
    account = stack.account("operator")
    mine = token_client(app, account.token)
    assert mine.get("/api/me").get_json() == {"email": account.email, "role": "operator", "via": "token:tests"}
    with stack.db.read_session() as session:
        user_id = directory.get_user(session, account.email).id

    response = admin_client.post(f"/api/users/{user_id}/disable")
    assert response.status_code == 200 and response.get_json()["enabled"] is False
    assert response.get_json()["active_tokens"] == 0
    assert_error(mine.get("/api/me"), 401)
    assert_error(mine.post("/api/diagnostics/sleep", json={"seconds": 0}), 401)


def test_a_token_made_through_the_api_works_once_shown(app: Flask, admin_client: FlaskClient) -> None:
    created = admin_client.post("/api/users", json={"email": f"Ops-{uuid.uuid4().hex[:6]}@Example.test",
                                                    "role": "operator", "password": PASSWORD})
    assert created.status_code == 201
    user = created.get_json()
    assert user["email"] == user["email"].lower() and user["role"] == "operator" and "password" not in user
    issued = admin_client.post(f"/api/users/{user['id']}/tokens", json={"name": "nightly"})
    assert issued.status_code == 201
    token = issued.get_json()["token"]
    assert token.startswith(issued.get_json()["hint"])
    assert token_client(app, token).get("/api/me").get_json()["via"] == "token:nightly"


def test_one_token_is_revoked_alone_and_the_others_keep_working(
    stack: Stack, app: Flask, admin_client: FlaskClient
) -> None:
    account = stack.account("operator")
    with stack.db.read_session() as session:
        user_id = directory.get_user(session, account.email).id
    second = admin_client.post(f"/api/users/{user_id}/tokens", json={"name": "deploy"}).get_json()
    first_client, second_client = token_client(app, account.token), token_client(app, second["token"])
    assert first_client.get("/api/me").status_code == second_client.get("/api/me").status_code == 200

    revoked = admin_client.post(f"/api/users/{user_id}/tokens/{second['id']}/revoke")
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"]
    assert_error(second_client.get("/api/me"), 401)
    assert first_client.get("/api/me").status_code == 200  # the user's other token still works
    listed = {t["name"]: t for t in admin_client.get(f"/api/users/{user_id}/tokens").get_json()["items"]}
    assert listed["deploy"]["revoked_at"] and listed["tests"]["revoked_at"] is None
    assert "token" not in listed["tests"] and "digest" not in listed["tests"]
    assert_error(admin_client.post(f"/api/users/{user_id}/tokens/999999/revoke"), 404)
    _other_user, other_token = fresh_token(stack)
    assert_error(admin_client.post(f"/api/users/{user_id}/tokens/{other_token}/revoke"), 404)  # not this user's


@pytest.mark.parametrize("days", [0, -1, 3651, "7"])
def test_a_token_expiry_out_of_range_is_422(stack: Stack, admin_client: FlaskClient, days: object) -> None:
    user_id = fresh_user_id(stack)
    response = admin_client.post(f"/api/users/{user_id}/tokens", json={"name": "x", "expires_in_days": days})
    assert assert_error(response, 422)["fields"][0]["field"] == "expires_in_days"


def test_an_expired_token_is_refused(stack: Stack, app: Flask, admin_client: FlaskClient) -> None:
    user_id = fresh_user_id(stack)
    issued = admin_client.post(f"/api/users/{user_id}/tokens", json={"name": "short", "expires_in_days": 1})
    assert issued.status_code == 201 and issued.get_json()["expires_at"]
    client = token_client(app, issued.get_json()["token"])
    assert client.get("/api/me").status_code == 200
    with stack.db.transaction() as session:  # a day later, as far as the token is concerned
        session.execute(update(ApiToken).where(ApiToken.id == issued.get_json()["id"])
                        .values(expires_at=utcnow() - timedelta(seconds=1)))
    wait_for(lambda: client.get("/api/me").status_code == 401, 10, what="the expired token to be refused")


def test_the_last_enabled_admin_cannot_be_disabled(stack: Stack, app: Flask) -> None:
    with stack.db.read_session() as session:
        admins = [u for u in directory.list_users(session) if u.role == "admin" and u.is_enabled]
    # Leave exactly one enabled admin: disable the others straight in the database, then put them back.
    keep = stack.account("admin")
    with stack.db.transaction() as session:
        others = [u.id for u in admins if u.email != keep.email]
        session.execute(update(User).where(User.id.in_(others)).values(disabled_at=utcnow()))
    try:
        client = token_client(app, keep.token)
        me = next(u for u in client.get("/api/users").get_json()["items"] if u["email"] == keep.email)
        refused = client.post(f"/api/users/{me['id']}/disable")
        assert assert_error(refused, 409)["fields"][0]["field"] == "email"
        assert "last enabled admin" in refused.get_json()["error"]["message"]
        assert client.get("/api/me").status_code == 200  # still an admin, token still works
    finally:
        with stack.db.transaction() as session:
            session.execute(update(User).where(User.id.in_(others)).values(disabled_at=None))


def test_creating_a_user_twice_is_409_and_bad_fields_are_422(admin_client: FlaskClient) -> None:
    email = f"twice-{uuid.uuid4().hex[:6]}@example.test"
    created = admin_client.post("/api/users", json={"email": email, "role": "viewer", "password": PASSWORD})
    assert created.status_code == 201
    again = admin_client.post("/api/users", json={"email": email.upper(), "role": "viewer", "password": PASSWORD})
    assert assert_error(again, 409)["fields"] == [{"field": "email", "reason": f"a user {email!r} already exists"}]
    bad = admin_client.post("/api/users", json={"email": "x@y", "role": "boss", "password": "short"})
    assert {item["field"] for item in assert_error(bad, 422)["fields"]} == {"role", "password"}


# --- audit ---------------------------------------------------------------------------------------

def test_the_job_records_who_submitted_and_who_cancelled_it(
    offline_app: Flask, accounts: dict[str, Account]
) -> None:
    operator, admin = accounts["operator"], accounts["admin"]
    job_id = submit(token_client(offline_app, operator.token))
    response = token_client(offline_app, admin.token).post(f"/api/jobs/{job_id}/cancel")
    assert response.status_code == 202
    job = token_client(offline_app, accounts["viewer"].token).get(f"/api/jobs/{job_id}").get_json()
    assert job["submitted_by"] == operator.email
    assert [(e["action"], e["by"], e["via"]) for e in job["audit"]] == [
        ("submitted", operator.email, "token:tests"),
        ("cancelled", admin.email, "token:tests"),
    ]
    assert all(re.match(r"\d{4}-\d\d-\d\dT.*Z$", e["at"]) for e in job["audit"])


def test_a_retry_is_recorded_with_its_author(
    stack: Stack, offline_app: Flask, accounts: dict[str, Account]
) -> None:
    operator = token_client(offline_app, accounts["operator"].token)
    job_id = submit(operator)
    move(stack, job_id, "failed")
    assert operator.post(f"/api/jobs/{job_id}/retry").status_code == 202
    audit = operator.get(f"/api/jobs/{job_id}").get_json()["audit"]
    assert [(e["action"], e["by"]) for e in audit] == [
        ("submitted", accounts["operator"].email), ("retried", accounts["operator"].email)]
