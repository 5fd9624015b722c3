"""JSON errors for the API: the field and the reason, never a stack trace."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

log = logging.getLogger("webapp")


class ApiError(Exception):
    """An error answered as JSON with `status`."""

    def __init__(self, status: int, message: str, fields: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields or []


def error_response(status: int, message: str, fields: list[dict[str, str]] | None = None) -> tuple[Response, int]:
    body: dict[str, Any] = {"error": {"status": status, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return jsonify(body), status


def validation_error(error: ValidationError) -> ApiError:
    """A 422 listing every bad field with its reason."""
    fields = [
        {"field": ".".join(str(part) for part in item["loc"]) or "body", "reason": item["msg"]}
        for item in error.errors()
    ]
    return ApiError(422, "invalid request", fields)


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> tuple[Response, int]:
        return error_response(error.status, error.message, error.fields)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Any:
        if not request.path.startswith("/api/") and request.path not in ("/healthz", "/readyz"):
            return error
        response, status = error_response(error.code or 500, error.description or error.name)
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response, status

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> tuple[Response, int]:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal error; it has been logged")
