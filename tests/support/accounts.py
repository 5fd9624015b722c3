"""Users and tokens made directly in a test database, and clients that act as them."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask import Flask
from flask.testing import FlaskClient

from accounts import directory
from jobs.db import Database

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Account:
    email: str
    role: str
    password: str
    token: str


def make_account(db: Database, role: str, *, password: str = PASSWORD) -> Account:
    """A new enabled user with `role` and one API token."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.test"
    with db.transaction() as session:
        directory.create_user(session, email, role, password)
        _row, token = directory.create_token(session, email, "tests")
    return Account(email=email, role=role, password=password, token=token)


def token_client(app: Flask, token: str) -> FlaskClient:
    """A client that sends `Authorization: Bearer <token>` on every request."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client
