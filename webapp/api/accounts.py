"""The caller's own identity, and user and token management for admins."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from accounts import directory
from accounts.models import ApiToken, User
from accounts.roles import Role
from webapp.access import current_identity, requires
from webapp.api.requests import json_body
from webapp.errors import ApiError
from webapp.runtime import runtime
from webapp.serializers import iso

bp = Blueprint("accounts_api", __name__, url_prefix="/api")


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    email: str = Field(max_length=254)
    role: Role = Field(strict=False)  # a JSON string names the role
    password: str = Field(min_length=12, max_length=1024)


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(None, ge=1, le=directory.MAX_TOKEN_DAYS)


def user_to_dict(session: Session, user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "enabled": user.is_enabled,
        "created_at": iso(user.created_at),
        "last_login_at": iso(user.last_login_at),
        "disabled_at": iso(user.disabled_at),
        "active_tokens": directory.active_token_count(session, user),
    }


def token_to_dict(token: ApiToken) -> dict[str, Any]:
    """A token as its owner and admins see it: never the token itself."""
    return {"id": token.id, "name": token.name, "hint": token.hint, "created_at": iso(token.created_at),
            "last_used_at": iso(token.last_used_at), "expires_at": iso(token.expires_at),
            "revoked_at": iso(token.revoked_at)}


def account_error(error: directory.AccountError) -> ApiError:
    status = 409 if isinstance(error, directory.AccountExists | directory.AccountConflict) else 422
    return ApiError(status, str(error), [{"field": error.field, "reason": error.reason}])


def get_user_or_404(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise ApiError(404, f"no user with id {user_id}")
    return user


@bp.get("/me")
def me() -> Response:
    identity = current_identity()
    return jsonify({"email": identity.email, "role": identity.role.value, "via": identity.via})


@bp.get("/users")
@requires(Role.ADMIN)
def list_users() -> Response:
    with runtime().db.read_session() as session:
        return jsonify({"items": [user_to_dict(session, user) for user in directory.list_users(session)]})


@bp.post("/users")
@requires(Role.ADMIN)
def create_user() -> tuple[Response, int]:
    body = json_body(NewUser)
    try:
        with runtime().db.transaction() as session:
            user = directory.create_user(session, body.email, body.role, body.password)
            payload = user_to_dict(session, user)
    except directory.AccountError as error:
        raise account_error(error) from None
    return jsonify(payload), 201


@bp.post("/users/<int:user_id>/disable")
@requires(Role.ADMIN)
def disable_user(user_id: int) -> Response:
    try:
        with runtime().db.transaction() as session:
            user = directory.disable_user(session, get_user_or_404(session, user_id).email)
    except directory.AccountError as error:
        raise account_error(error) from None
    # After the commit: this process refuses the user's tokens at once (the others within TOKEN_CACHE_S).
    runtime().tokens.clear()
    with runtime().db.read_session() as session:
        return jsonify(user_to_dict(session, user))


@bp.post("/users/<int:user_id>/tokens")
@requires(Role.ADMIN)
def create_token(user_id: int) -> tuple[Response, int]:
    body = json_body(NewToken)
    try:
        with runtime().db.transaction() as session:
            row, token = directory.create_token(session, get_user_or_404(session, user_id).email, body.name,
                                                body.expires_in_days)
            payload = token_to_dict(row) | {"token": token}
    except directory.AccountError as error:
        raise account_error(error) from None
    return jsonify(payload), 201


@bp.get("/users/<int:user_id>/tokens")
@requires(Role.ADMIN)
def list_tokens(user_id: int) -> Response:
    with runtime().db.read_session() as session:
        tokens = directory.list_tokens(session, get_user_or_404(session, user_id))
        return jsonify({"items": [token_to_dict(token) for token in tokens]})


@bp.post("/users/<int:user_id>/tokens/<int:token_id>/revoke")
@requires(Role.ADMIN)
def revoke_token(user_id: int, token_id: int) -> Response:
    """Revoke one token; the user's other tokens and sessions keep working."""
    with runtime().db.transaction() as session:
        user = get_user_or_404(session, user_id)
        try:
            token = directory.revoke_token(session, user, token_id)
        except directory.AccountError:
            raise ApiError(404, f"user {user_id} has no token with id {token_id}") from None
        payload = token_to_dict(token)
    runtime().tokens.clear()  # this process refuses it at once, the others within TOKEN_CACHE_S
    return jsonify(payload)
