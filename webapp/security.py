"""Hardened defaults: security headers on every response, cookie flags, body size, proxy trust."""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from flask import Flask, Request, Response, current_app, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from config.settings import Settings

# No inline script or style anywhere: pages load /static files only.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000"


View = TypeVar("View", bound=Callable[..., Any])
UPLOAD_ATTRIBUTE = "accepts_uploads"


def accepts_uploads(view: View) -> View:
    """Let the view's request body be as large as MAX_UPLOAD_MB instead of MAX_REQUEST_KB."""
    setattr(view, UPLOAD_ATTRIBUTE, True)
    return view


def apply_upload_limit() -> None:
    """Before the body is read (by CSRF or the view): raise the size limit for upload endpoints."""
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    if view is not None and getattr(view, UPLOAD_ATTRIBUTE, False):
        request.max_content_length = current_app.extensions["jobs"].settings.max_upload_mb * 1024 * 1024


class HttpsAwareSessionInterface(SecureCookieSessionInterface):
    """The session cookie: Secure whenever the request came over HTTPS (directly or via a trusted proxy), and
    not read at all for a request with an Authorization header, which that header alone authenticates
    (webapp.access): a program's API call pays for no cookie parsing or signing."""

    def __init__(self) -> None:
        self._serializers: dict[str, Any] = {}

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure

    def get_signing_serializer(self, app: Flask) -> Any:
        """Built once per secret key, not on every request."""
        key = app.secret_key
        if not key:
            return None
        found = self._serializers.get(str(key))
        if found is None:
            found = self._serializers[str(key)] = super().get_signing_serializer(app)
        return found

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if "Authorization" in request.headers:
            return self.session_class()
        return super().open_session(app, request)


def add_security_headers(response: Response) -> Response:
    present = {name.lower() for name, _value in response.headers}
    extra = [(name, value) for name, value in SECURITY_HEADERS.items() if name.lower() not in present]
    if request.is_secure and "strict-transport-security" not in present:
        extra.append(("Strict-Transport-Security", HSTS))
    if response.mimetype == "text/html" and "cache-control" not in present:
        extra.append(("Cache-Control", "no-store"))  # pages show business data
    response.headers.extend(extra)
    return response


def configure_security(app: Flask, settings: Settings) -> None:
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=False,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_lifetime_h),
        MAX_CONTENT_LENGTH=settings.max_request_kb * 1024,
        # A form's CSRF token lives as long as the session; a page left open for hours still submits.
        WTF_CSRF_TIME_LIMIT=None,
        # The access hook decides which requests need the check (session-authenticated writes, public forms).
        WTF_CSRF_CHECK_DEFAULT=False,
    )
    app.session_interface = HttpsAwareSessionInterface()
    if settings.trusted_proxies:
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.before_request(apply_upload_limit)
    app.after_request(add_security_headers)
