"""Errors as JSON for the API and as a plain page for people: the reason, never a stack trace."""
from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

log = logging.getLogger("webapp")

JSON_PATHS = ("/healthz", "/readyz", "/metrics")
CSRF_MESSAGE = "The form's security token is missing or no longer valid. Reload the page and try again."


class ApiError(Exception):
    """An error answered with `status`: JSON for the API, a page for people."""

    def __init__(
        self,
        status: int,
        message: str,
        fields: list[dict[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields or []
        self.headers = dict(headers or {})


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path in JSON_PATHS


def error_response(status: int, message: str, fields: list[dict[str, str]] | None = None) -> tuple[Response, int]:
    body: dict[str, Any] = {"error": {"status": status, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return jsonify(body), status


def error_page(status: int, message: str) -> tuple[str, int]:
    return render_template("error.html", status=status, message=message), status


def validation_error(error: ValidationError) -> ApiError:
    """A 422 listing every bad field with its reason."""
    fields = [
        {"field": ".".join(str(part) for part in item["loc"]) or "body",
         "reason": item["msg"].removeprefix("Value error, ")}
        for item in error.errors()
    ]
    return ApiError(422, "invalid request", fields)


def _http_error_message(error: HTTPException) -> str:
    if isinstance(error, CSRFError):
        return CSRF_MESSAGE
    if isinstance(error, RequestEntityTooLarge):
        limit = request.max_content_length
        if not limit:
            return "request too large"
        size = f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit // 1024} KiB"
        return f"the request body is larger than the {size} allowed"
    return error.description or error.name


def _seconds_until_reset() -> int:
    """When the breached rate limit lets the caller in again."""
    from webapp.extensions import limiter

    current = limiter.current_limit
    return max(1, int(current.reset_at - time.time())) if current is not None else 60


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Any:
        response, status = error_response(error.status, error.message, error.fields) if wants_json() else (
            error_page(error.status, error.message))
        return response, status, error.headers

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Any:
        status = error.code or 500
        message = _http_error_message(error)
        response, _ = error_response(status, message) if wants_json() else error_page(status, message)
        # Keep what the exception says about itself (Allow on 405, WWW-Authenticate, Retry-After), not its body type.
        headers = [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]
        if isinstance(error, RateLimitExceeded):
            headers.append(("Retry-After", str(_seconds_until_reset())))
        return response, status, headers

    @app.errorhandler(OperationalError)
    def _database_unavailable(error: OperationalError) -> Any:
        # A database that is down or restarting: the client may try again; the SQL stays in the log.
        log.warning("database unavailable on %s %s: %s", request.method, request.path, str(error.orig)[:300])
        message = "the database is unavailable; try again shortly"
        response, status = error_response(503, message) if wants_json() else error_page(503, message)
        return response, status, {"Retry-After": "1"}

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        message = "internal error; it has been logged"
        return error_response(500, message) if wants_json() else error_page(500, message)
