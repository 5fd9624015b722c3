"""Parsing request bodies and query strings into validated models."""
from __future__ import annotations

import json
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from webapp.errors import ApiError, validation_error

Model = TypeVar("Model", bound=BaseModel)


def json_body(model: type[Model]) -> Model:
    """The request's JSON body validated by `model`: 400 when it is not JSON, 422 naming each bad field."""
    if not request.is_json:
        raise ApiError(415, "the body must be JSON (Content-Type: application/json)")
    raw = request.get_data()
    try:
        payload: Any = json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError):
        raise ApiError(400, "malformed JSON body") from None
    if not isinstance(payload, dict):
        raise ApiError(422, "invalid request", [{"field": "body", "reason": "must be a JSON object"}])
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise validation_error(error) from None


def query_args(model: type[Model], *, drop_empty: bool = False) -> Model:
    """The query string validated by `model`; 422 naming each bad parameter.

    `drop_empty` treats `?state=` as absent, as a filter form sends for "any".
    """
    args = {name: value for name, value in request.args.items() if value or not drop_empty}
    try:
        return model.model_validate(args)
    except ValidationError as error:
        raise validation_error(error) from None
