"""Who may call what: every endpoint needs a signed-in user or a bearer token unless marked public.

A view declares the weakest role it accepts with `@requires(Role.OPERATOR)`; a view without a
declaration accepts any signed-in role (viewer and up); `@public` opens it to anyone. One hook
checks every request before its view runs, so a new endpoint is closed by default.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Flask, current_app, g, redirect, request, url_for
from flask_login import UserMixin, current_user
from werkzeug.wrappers import Response

from accounts.api_tokens import token_digest
from accounts.directory import Identity, authenticate_token, identity_of, touch_token
from accounts.models import User
from accounts.roles import Role
from jobs.audit import Actor
from webapp.errors import ApiError, wants_json
from webapp.extensions import csrf, login_manager
from webapp.runtime import runtime

View = TypeVar("View", bound=Callable[..., Any])

ACCESS_ATTRIBUTE = "required_role"
# A view whose browser writes cannot carry the app's CSRF token (a proxied application's own pages):
# a session's write is accepted when the browser says it comes from this site (Origin, else Referer).
SAME_SITE_WRITES = "same_site_writes"
PUBLIC = "public"
# Endpoints Flask adds itself: the stylesheet of the sign-in page must load before anyone signs in.
PUBLIC_ENDPOINTS = frozenset({"static"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REALM = 'Bearer realm="jobs"'


def requires(role: Role) -> Callable[[View], View]:
    """Let only `role` and stronger roles call the view."""
    def mark(view: View) -> View:
        setattr(view, ACCESS_ATTRIBUTE, role)
        return view
    return mark


def public(view: View) -> View:
    """Let anyone call the view, signed in or not."""
    setattr(view, ACCESS_ATTRIBUTE, PUBLIC)
    return view


class SessionUser(UserMixin):
    """What Flask-Login keeps for a signed-in person."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    def get_id(self) -> str:
        return str(self.identity.user_id)


def same_site_writes(view: View) -> View:
    """Check a session's writes to the view by their Origin (or Referer) instead of a CSRF token."""
    setattr(view, SAME_SITE_WRITES, True)
    return view


def from_this_site() -> bool:
    source = request.headers.get("Origin") or request.headers.get("Referer") or ""
    return bool(source) and urlsplit(source).netloc == request.host


def current_identity() -> Identity:
    """The identity of the request (only inside a view that is not public)."""
    identity: Identity = g.identity
    return identity


def current_actor() -> Actor:
    identity = current_identity()
    return Actor(identity.email, identity.via)


def is_api_request() -> bool:
    """A program's request (the API, probes, Prometheus): refused with 401, never sent to the sign-in page."""
    return wants_json()


def _unauthorized(message: str, error_code: str | None = None) -> ApiError:
    challenge = REALM + (f', error="{error_code}"' if error_code else "")
    return ApiError(401, message, headers={"WWW-Authenticate": challenge})


def _bearer_identity(header: str) -> Identity:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("send an API token as 'Authorization: Bearer <token>'", "invalid_request")
    rt = runtime()
    digest = token_digest(token.strip())
    cached = rt.tokens.get(digest)
    if cached is not None:
        return cached
    with rt.db.read_session() as session:
        identity = authenticate_token(session, token.strip())
    if identity is None:
        raise _unauthorized("the API token is unknown, revoked or belongs to a disabled user", "invalid_token")
    if identity.token_use_unrecorded and identity.token_id is not None:
        with rt.db.transaction() as session:  # at most once per token per 10 minutes: reads stay reads
            touch_token(session, identity.token_id)
    rt.tokens.put(digest, identity)
    return identity


def _request_identity() -> Identity | None:
    header = request.headers.get("Authorization")
    if header is not None:
        return _bearer_identity(header)
    if current_user.is_authenticated:
        return cast(SessionUser, current_user).identity
    return None


def enforce_access() -> Response | None:
    """Before every request: authenticate, authorize against the view's role, and check CSRF."""
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    if view is None:
        return None  # routing answers 404 / 405
    required: Role | str = (PUBLIC if request.endpoint in PUBLIC_ENDPOINTS
                            else getattr(view, ACCESS_ATTRIBUTE, Role.VIEWER))
    if not isinstance(required, Role):  # PUBLIC
        if request.method not in SAFE_METHODS:
            csrf.protect()
        return None
    identity = _request_identity()
    if identity is None:
        if is_api_request():
            raise _unauthorized("sign in or send an API token")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    g.identity = identity
    if not identity.role.permits(required):
        raise ApiError(403, f"this needs the {required} role; you are {identity.role}")
    if identity.token_id is None and request.method not in SAFE_METHODS:
        # A session cookie is sent by the browser on its own; a bearer token is not.
        if not getattr(view, SAME_SITE_WRITES, False):
            csrf.protect()
        elif not from_this_site():
            raise ApiError(403, "a write from a browser must come from this site's own pages (Origin)")
    return None


def _load_session_user(user_id: str) -> SessionUser | None:
    """The signed-in user of a session cookie, or None once they are disabled or deleted."""
    try:
        key = int(user_id)
    except ValueError:
        return None
    with runtime().db.read_session() as session:
        user = session.get(User, key)
        if user is None or not user.is_enabled:
            return None
        return SessionUser(identity_of(user))


def _template_identity() -> dict[str, Identity | None]:
    return {"identity": g.get("identity")}


def register_access_policy(app: Flask) -> None:
    """Install the hook first, so that rate limits (keyed by identity) run after it."""
    app.before_request(enforce_access)
    login_manager.user_loader(_load_session_user)
    app.context_processor(_template_identity)
