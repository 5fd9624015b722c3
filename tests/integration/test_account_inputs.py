"""User emails and passwords as careless or hostile admins type them: one bare address, no look-alikes."""
from __future__ import annotations

import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from accounts.models import User
from tests.conftest import Stack
from tests.integration.test_api import assert_error

pytestmark = pytest.mark.integration

PASSWORD = "a long enough password"


@pytest.fixture
def admin(stack: Stack, app: Flask) -> FlaskClient:
    return stack.client(app, "admin")


def user_count(stack: Stack) -> int:
    with stack.db.read_session() as session:
        return session.scalar(select(func.count()).select_from(User)) or 0


@pytest.mark.parametrize("email", [
    "ops@example.test, boss@example.test", "ops@example.test;boss@example.test", "Ops <ops@example.test>",
    "ops@example.test (night shift)", "ops@example.test\r\nBcc: all@example.test", "ops@example.test\n",
    "o\u200bps@example.test", "ops\u202e@example.test", "ops@exa..mple", "@example.test", "ops@", "ops@@example.test",
    '"o ps"@example.test', "o..ps@example.test", "ops@exa mple.test",
])
def test_a_user_email_must_be_one_bare_address(stack: Stack, admin: FlaskClient, email: str) -> None:
    before = user_count(stack)
    error = assert_error(admin.post("/api/users", json={"email": email, "role": "viewer", "password": PASSWORD}), 422)
    assert error["fields"][0]["field"] == "email"
    assert user_count(stack) == before


@pytest.mark.parametrize("look_alike", ["ＯＰＳ-{n}@example.test", "ops-{n}@EXAMPLE.test", " ops-{n}@example.test ",
                                        "ｏｐｓ-{n}@ｅｘａｍｐｌｅ.test"])
def test_a_look_alike_of_an_existing_email_is_the_same_account(
    stack: Stack, admin: FlaskClient, look_alike: str
) -> None:
    n = uuid.uuid4().hex[:6]
    created = admin.post("/api/users", json={"email": f"ops-{n}@example.test", "role": "viewer", "password": PASSWORD})
    assert created.status_code == 201, created.get_data(as_text=True)
    again = admin.post("/api/users", json={"email": look_alike.format(n=n), "role": "admin", "password": PASSWORD})
    assert assert_error(again, 409)["fields"][0]["field"] == "email"


@pytest.mark.parametrize("password", [" " * 12, "\t" * 16, " \u3000 " * 6])
def test_a_blank_password_is_refused(stack: Stack, admin: FlaskClient, password: str) -> None:
    response = admin.post("/api/users", json={"email": f"blank-{uuid.uuid4().hex[:6]}@example.test",
                                              "role": "viewer", "password": password})
    assert assert_error(response, 422)["fields"][0]["field"] == "password"
