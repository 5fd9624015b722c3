"""`flask users …` / `flask tokens …` run as an operator runs them: the virtualenv's `flask`, from the repository
root."""
from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from accounts.models import ApiToken, User
from config.settings import PROJECT_ROOT, load_settings
from jobs.db import Database
from tests.conftest import Stack
from tests.integration.test_sign_in import sign_in
from tests.support.accounts import token_client
from tests.support.processes import wait_for
from tests.support.services import postgres_database
from webapp.commands import upgrade_database

pytestmark = pytest.mark.integration

FLASK = str(Path(sys.executable).parent / "flask")


def flask(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the virtualenv's `flask` from the repository root (it finds the app through .flaskenv)."""
    clean = {k: v for k, v in env.items() if k != "FLASK_APP"}
    return subprocess.run([FLASK, *args], cwd=PROJECT_ROOT, env=clean, input=stdin, capture_output=True, text=True,
                          timeout=60)


def test_create_user_then_token_then_disable(stack: Stack) -> None:
    email = f"Cli-{uuid.uuid4().hex[:6]}@Example.test"
    created = flask(stack.env, "users", "create", "--email", email, "--role", "operator",
                    "--password", "a long enough password")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == f"created user {email.lower()} with role operator"
    assert "a long enough password" not in created.stdout + created.stderr

    issued = flask(stack.env, "tokens", "create", "--email", email, "--name", "ci")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip().splitlines()[-1]
    assert token.startswith("jbt_") and " " not in token
    with stack.db.read_session() as session:
        stored = session.scalars(select(ApiToken.digest)).all()
    assert token not in stored

    app = stack.app(token_cache_s=1.0)
    client = token_client(app, token)
    assert client.get("/api/me").get_json() == {"email": email.lower(), "role": "operator", "via": "token:ci"}

    listed = flask(stack.env, "users", "list")
    line = next(row for row in listed.stdout.splitlines() if row.startswith(email.lower()))
    assert line.split()[1:4] == ["operator", "enabled", "1"]

    disabled = flask(stack.env, "users", "disable", "--email", email)
    assert disabled.returncode == 0, disabled.stderr
    # The token died with its user: a web process that checked it refuses it within TOKEN_CACHE_S.
    started = time.monotonic()
    wait_for(lambda: client.get("/api/me").status_code == 401, 10, interval=0.05, what="the token to be refused")
    assert time.monotonic() - started <= 1.0 + 0.5
    line = next(row for row in flask(stack.env, "users", "list").stdout.splitlines() if row.startswith(email.lower()))
    assert line.split()[1:4] == ["operator", "disabled", "0"]


def test_create_prompts_for_the_password_when_it_is_left_out(stack: Stack) -> None:
    email = f"prompted-{uuid.uuid4().hex[:6]}@example.test"
    secret = "typed at the prompt, twice"
    result = flask(stack.env, "users", "create", "--email", email, "--role", "viewer", stdin=f"{secret}\n{secret}\n")
    assert result.returncode == 0, result.stderr
    assert "Password" in result.stdout + result.stderr
    assert secret not in result.stdout
    assert sign_in(stack.app().test_client(), email, secret).status_code == 302


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["users", "create", "--email", "not-an-email", "--role", "viewer", "--password", "long enough pass"],
         "email"),
        (["users", "create", "--email", "x@example.test", "--role", "boss", "--password", "long enough pass"],
         "--role"),
        (["users", "create", "--email", "x@example.test", "--role", "viewer", "--password", "short"], "password"),
        (["users", "disable", "--email", "nobody-here@example.test"], "no user"),
        (["tokens", "create", "--email", "nobody-here@example.test", "--name", "x"], "no user"),
    ],
    ids=["bad-email", "bad-role", "short-password", "disable-unknown", "token-unknown"],
)
def test_bad_input_fails_with_a_message_and_no_traceback(stack: Stack, args: list[str], message: str) -> None:
    result = flask(stack.env, *args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_duplicate_user_is_refused(stack: Stack) -> None:
    email = f"dup-{uuid.uuid4().hex[:6]}@example.test"
    args = ["users", "create", "--email", email, "--role", "viewer", "--password", "long enough pass"]
    assert flask(stack.env, *args).returncode == 0
    again = flask(stack.env, *args)
    assert again.returncode != 0 and "already exists" in again.stderr


# --- first run -----------------------------------------------------------------------------------

@pytest.fixture
def empty_database(stack: Stack, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The stack's environment on a freshly migrated database of the same backend with no users."""
    def migrated(url: str) -> dict[str, str]:
        env = {**stack.env, "DATABASE_URL": url}
        upgrade_database(load_settings(env))
        return env

    if stack.backend == "sqlite":
        yield migrated(f"sqlite:///{tmp_path / 'fresh.db'}")
    else:
        with postgres_database("jobs_first_run") as url:
            yield migrated(url)


def test_first_run_creates_exactly_one_admin_and_is_silent_the_second_time(
    stack: Stack, empty_database: dict[str, str]
) -> None:
    first = flask(empty_database, "users", "bootstrap")
    assert first.returncode == 0, first.stderr
    printed = {name: value for name, value in re.findall(r"^  (email|password|API token) +(\S+)$", first.stdout, re.M)}
    assert printed["email"] == "admin@localhost"
    password, token = printed["password"], printed["API token"]
    assert len(password) >= 16 and token.startswith("jbt_")

    second = flask(empty_database, "users", "bootstrap")
    assert second.returncode == 0, second.stderr
    assert second.stdout == "" and second.stderr == ""

    db = Database(load_settings(empty_database).resolved_database_url)
    try:
        with db.read_session() as session:
            users = session.scalars(select(User)).all()
        assert [(u.email, u.role) for u in users] == [("admin@localhost", "admin")]
    finally:
        db.dispose()

    app = stack.app(database_url=empty_database["DATABASE_URL"])
    assert token_client(app, token).get("/api/users").status_code == 200
    assert sign_in(app.test_client(), "admin@localhost", password).status_code == 302


def test_one_token_is_revoked_from_the_shell_and_the_user_keeps_the_others(stack: Stack) -> None:
    email = f"shell-{uuid.uuid4().hex[:6]}@example.test"
    assert flask(stack.env, "users", "create", "--email", email, "--role", "viewer",
                 "--password", "a long enough password").returncode == 0
    first = flask(stack.env, "tokens", "create", "--email", email, "--name", "first").stdout.splitlines()[-1]
    second = flask(stack.env, "tokens", "create", "--email", email, "--name", "second",
                   "--expires-in-days", "30").stdout.splitlines()[-1]
    listed = flask(stack.env, "tokens", "list", "--email", email).stdout
    assert "first" in listed and "second" in listed and first not in listed and second not in listed

    revoked = flask(stack.env, "tokens", "revoke", "--email", email, "--name", "first")
    assert revoked.returncode == 0 and "revoked token 'first'" in revoked.stdout
    app = stack.app()
    wait_for(lambda: token_client(app, first).get("/api/me").status_code == 401, 10, what="the revoked token")
    assert token_client(app, second).get("/api/me").status_code == 200
    missing = flask(stack.env, "tokens", "revoke", "--email", email, "--name", "first")
    assert missing.returncode != 0 and "no active token" in missing.stderr
    assert flask(stack.env, "tokens", "revoke", "--email", email).returncode != 0  # neither --name nor --id
    too_long = flask(stack.env, "tokens", "create", "--email", email, "--name", "x", "--expires-in-days", "99999")
    assert too_long.returncode != 0 and "expires_in_days" in too_long.stderr
