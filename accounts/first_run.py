"""The first run of an installation: an admin with a random password and a token, printed once."""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from accounts.directory import count_users, create_token, create_user
from accounts.roles import Role

FIRST_TOKEN_NAME = "first-run"


@dataclass(frozen=True)
class FirstRunCredentials:
    email: str
    password: str
    token: str


def create_first_admin(session: Session, email: str) -> FirstRunCredentials | None:
    """Create the first admin when there is no user at all; None (and nothing done) otherwise."""
    if count_users(session) > 0:
        return None
    password = secrets.token_urlsafe(15)
    user = create_user(session, email, Role.ADMIN, password)
    _row, token = create_token(session, user.email, FIRST_TOKEN_NAME)
    return FirstRunCredentials(email=user.email, password=password, token=token)
