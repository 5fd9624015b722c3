"""Creating, finding, disabling and authenticating users and their API tokens.

Every function works inside the caller's transaction (a SQLAlchemy Session) and never imports Flask,
so the CLI, the web app and the tests share it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from accounts.api_tokens import new_token, token_digest, token_hint
from accounts.models import ApiToken, User
from accounts.passwords import (
    MIN_PASSWORD_LENGTH,
    hash_password,
    needs_rehash,
    unknown_user_hash,
    verify_password,
)
from accounts.roles import Role
from jobs.db import utcnow

# Deliberately loose: one @, something on each side, no spaces. Deliverability is the mail server's business.
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+$")
MAX_EMAIL_LENGTH = 254
MAX_TOKEN_NAME_LENGTH = 100
# A token's last use is written at most this often, so that authenticated reads stay reads.
LAST_USED_GRANULARITY = timedelta(minutes=10)


class AccountError(ValueError):
    """Input the directory refuses; `field` names what was wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class AccountExists(AccountError):
    """The email is taken by another user."""


@dataclass(frozen=True)
class Identity:
    """Who is making a request: enough to authorize and audit it, detached from any session."""

    user_id: int
    email: str
    role: Role
    token_id: int | None = None
    token_name: str | None = None
    # True when the token's last use is older than LAST_USED_GRANULARITY: only then is it worth a write.
    token_use_unrecorded: bool = field(default=False, compare=False)

    @property
    def via(self) -> str:
        return f"token:{self.token_name}" if self.token_id is not None else "session"


def identity_of(user: User, token: ApiToken | None = None) -> Identity:
    return Identity(
        user_id=user.id, email=user.email, role=user.user_role,
        token_id=token.id if token else None, token_name=token.name if token else None,
    )


def normalize_email(raw: str) -> str:
    email = raw.strip().lower()
    if not EMAIL_PATTERN.match(email) or len(email) > MAX_EMAIL_LENGTH:
        raise AccountError("email", "must look like name@domain")
    return email


def parse_role(raw: str) -> Role:
    try:
        return Role(raw)
    except ValueError:
        raise AccountError("role", f"must be one of {', '.join(role.value for role in Role)}") from None


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")


def find_user(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def get_user(session: Session, email: str) -> User:
    user = find_user(session, email)
    if user is None:
        raise AccountError("email", f"no user {email.strip().lower()!r}")
    return user


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def active_token_count(session: Session, user: User) -> int:
    return session.scalar(
        select(func.count()).select_from(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ) or 0


def create_user(session: Session, email: str, role: str, password: str) -> User:
    """Add an enabled user; AccountError if the email is taken or an input is invalid."""
    email = normalize_email(email)
    parsed_role = parse_role(role)
    check_password(password)
    if find_user(session, email) is not None:
        raise AccountExists("email", f"a user {email!r} already exists")
    user = User(email=email, password_hash=hash_password(password), role=parsed_role.value, created_at=utcnow())
    session.add(user)
    session.flush()
    return user


def disable_user(session: Session, email: str) -> User:
    """Disable a user: their sessions stop working at their next request and their tokens are revoked."""
    user = get_user(session, email)
    now = utcnow()
    if user.disabled_at is None:
        user.disabled_at = now
    session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=now)
    )
    session.flush()
    return user


def enable_user(session: Session, email: str) -> User:
    """Enable a disabled user again; tokens revoked when they were disabled stay revoked."""
    user = get_user(session, email)
    user.disabled_at = None
    session.flush()
    return user


def authenticate_password(session: Session, email: str, password: str) -> User | None:
    """The enabled user with this email and password, else None (taking the same time either way)."""
    try:
        user = find_user(session, normalize_email(email))
    except AccountError:
        user = None
    if user is None or not user.is_enabled:
        verify_password(unknown_user_hash(), password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    session.flush()
    return user


def create_token(session: Session, email: str, name: str) -> tuple[ApiToken, str]:
    """A new token for an enabled user: (its row, the token itself, which is never stored)."""
    user = get_user(session, email)
    if not user.is_enabled:
        raise AccountError("email", f"user {user.email!r} is disabled")
    name = name.strip()
    if not name or len(name) > MAX_TOKEN_NAME_LENGTH:
        raise AccountError("name", f"must be 1 to {MAX_TOKEN_NAME_LENGTH} characters")
    token = new_token()
    row = ApiToken(user_id=user.id, name=name, digest=token_digest(token), hint=token_hint(token), created_at=utcnow())
    session.add(row)
    session.flush()
    return row, token


def authenticate_token(session: Session, token: str) -> Identity | None:
    """The identity a bearer token stands for, or None if it is unknown, revoked or its user disabled.

    Every API request runs this, so it reads plain columns (no ORM objects): a third of a status
    request's time went to loading the two objects (docs/benchmarks.md).
    """
    found = session.execute(
        select(ApiToken.id, ApiToken.name, ApiToken.revoked_at, ApiToken.last_used_at,
               User.id.label("user_id"), User.email, User.role, User.disabled_at)
        .join(User, ApiToken.user_id == User.id)
        .where(ApiToken.digest == token_digest(token))
    ).first()
    if found is None or found.revoked_at is not None or found.disabled_at is not None:
        return None
    stale = found.last_used_at is None or found.last_used_at < utcnow() - LAST_USED_GRANULARITY
    return Identity(user_id=found.user_id, email=found.email, role=Role(found.role), token_id=found.id,
                    token_name=found.name, token_use_unrecorded=stale)


def touch_token(session: Session, token_id: int) -> None:
    """Record that a token was used, at most once per LAST_USED_GRANULARITY."""
    now = utcnow()
    session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id)
        .where((ApiToken.last_used_at.is_(None)) | (ApiToken.last_used_at < now - LAST_USED_GRANULARITY))
        .values(last_used_at=now)
    )
