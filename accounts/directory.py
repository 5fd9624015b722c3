"""Creating, finding, disabling and authenticating users and their API tokens.

Every function works inside the caller's transaction (a SQLAlchemy Session) and never imports Flask,
so the CLI, the web app and the tests share it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from accounts.addresses import AddressError, address_key, single_address
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
from jobs.field_errors import FieldError

MAX_TOKEN_NAME_LENGTH = 100
MAX_TOKEN_DAYS = 3650
# A token's last use is written at most this often, so that authenticated reads stay reads.
LAST_USED_GRANULARITY = timedelta(minutes=10)


class AccountError(FieldError):
    """Input the directory refuses; `field` names what was wrong."""


class AccountExists(AccountError):
    """The email is taken by another user."""


class AccountConflict(AccountError):
    """The change would leave the installation without something it needs (its last enabled admin)."""


@dataclass(frozen=True)
class Identity:
    """Who is making a request: enough to authorize and audit it, detached from any session."""

    user_id: int
    email: str
    role: Role
    token_id: int | None = None
    token_name: str | None = None
    token_expires_at: datetime | None = field(default=None, compare=False)
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
    """One bare address, NFKC-normalized and lower-cased (accounts.addresses); AccountError otherwise."""
    try:
        return single_address(raw, dotted_domain=False)
    except AddressError as error:
        raise AccountError("email", str(error)) from None


def parse_role(raw: str) -> Role:
    try:
        return Role(raw)
    except ValueError:
        raise AccountError("role", f"must be one of {', '.join(role.value for role in Role)}") from None


def check_password(password: str) -> None:
    if not password.strip():
        raise AccountError("password", "must not be blank or only spaces")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")


def find_user(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == address_key(email)))


def get_user(session: Session, email: str) -> User:
    user = find_user(session, email)
    if user is None:
        raise AccountError("email", f"no user {address_key(email)!r}")
    return user


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def active_token_count(session: Session, user: User) -> int:
    return session.scalar(
        select(func.count()).select_from(ApiToken).where(
            ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None),
            ApiToken.expires_at.is_(None) | (ApiToken.expires_at > utcnow()))
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


def enabled_admin_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User).where(
        User.role == Role.ADMIN.value, User.disabled_at.is_(None))) or 0


def disable_user(session: Session, email: str) -> User:
    """Disable a user: their sessions stop working at their next request and their tokens are revoked.
    The last enabled admin cannot be disabled (nobody could manage users any more)."""
    user = get_user(session, email)
    if user.is_enabled and user.user_role is Role.ADMIN:
        # Lock the admins' rows, so two admins disabling each other at once cannot both succeed.
        session.execute(select(User.id).where(User.role == Role.ADMIN.value, User.disabled_at.is_(None))
                        .with_for_update())
        if enabled_admin_count(session) <= 1:
            raise AccountConflict("email", f"{user.email!r} is the last enabled admin; make another admin first")
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


def create_token(session: Session, email: str, name: str, expires_in_days: int | None = None) -> tuple[ApiToken, str]:
    """A new token for an enabled user: (its row, the token itself, which is never stored); with
    `expires_in_days` it is refused from that many days on."""
    user = get_user(session, email)
    if not user.is_enabled:
        raise AccountError("email", f"user {user.email!r} is disabled")
    name = name.strip()
    if not name or len(name) > MAX_TOKEN_NAME_LENGTH:
        raise AccountError("name", f"must be 1 to {MAX_TOKEN_NAME_LENGTH} characters")
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
        raise AccountError("expires_in_days", f"must be 1 to {MAX_TOKEN_DAYS} days")
    token = new_token()
    now = utcnow()
    row = ApiToken(user_id=user.id, name=name, digest=token_digest(token), hint=token_hint(token), created_at=now,
                   expires_at=now + timedelta(days=expires_in_days) if expires_in_days is not None else None)
    session.add(row)
    session.flush()
    return row, token


def authenticate_token(session: Session, token: str) -> Identity | None:
    """The identity a bearer token stands for, or None if it is unknown, revoked or its user disabled.

    Every API request runs this, so it reads plain columns (no ORM objects): a third of a status
    request's time went to loading the two objects (docs/benchmarks.md).
    """
    found = session.execute(
        select(ApiToken.id, ApiToken.name, ApiToken.revoked_at, ApiToken.last_used_at, ApiToken.expires_at,
               User.id.label("user_id"), User.email, User.role, User.disabled_at)
        .join(User, ApiToken.user_id == User.id)
        .where(ApiToken.digest == token_digest(token))
    ).first()
    if found is None or found.revoked_at is not None or found.disabled_at is not None:
        return None
    now = utcnow()
    if found.expires_at is not None and found.expires_at <= now:
        return None
    stale = found.last_used_at is None or found.last_used_at < now - LAST_USED_GRANULARITY
    return Identity(user_id=found.user_id, email=found.email, role=Role(found.role), token_id=found.id,
                    token_name=found.name, token_use_unrecorded=stale, token_expires_at=found.expires_at)


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)))


def revoke_token(session: Session, user: User, token_id: int) -> ApiToken:
    """Revoke one of the user's tokens (their other tokens and their sessions keep working)."""
    token = session.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id))
    if token is None:
        raise AccountError("token", f"{user.email!r} has no token with id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
    return token


def token_named(session: Session, user: User, name: str) -> ApiToken:
    """The user's one unrevoked token called `name` (AccountError when there is none, or several)."""
    found = [token for token in list_tokens(session, user) if token.name == name.strip() and token.revoked_at is None]
    if len(found) != 1:
        ids = ", ".join(str(token.id) for token in found)
        raise AccountError("name", f"{user.email!r} has no active token {name!r}" if not found
                           else f"{user.email!r} has {len(found)} active tokens {name!r} (ids {ids}); give --id")
    return found[0]


def touch_token(session: Session, token_id: int) -> None:
    """Record that a token was used, at most once per LAST_USED_GRANULARITY."""
    now = utcnow()
    session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id)
        .where((ApiToken.last_used_at.is_(None)) | (ApiToken.last_used_at < now - LAST_USED_GRANULARITY))
        .values(last_used_at=now)
    )
