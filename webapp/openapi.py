"""The OpenAPI 3 document of the REST API."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from jobs.states import JobState
from jobs.topology import JOB_KINDS

bp = Blueprint("openapi", __name__)

JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


LOCATION = {"Location": {"schema": {"type": "string"}, "description": "the job's status URL"}}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait before polling again"}}


def _schemas() -> dict[str, Any]:
    from webapp.api.diagnostics import SleepRequest

    timestamp = {"type": ["string", "null"], "format": "date-time"}
    return {
        "Job": {
            "type": "object",
            "required": ["id", "kind", "state", "queue", "progress", "attempts", "created_at", "links"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "kind": {"type": "string", "enum": sorted(JOB_KINDS)},
                "state": {"type": "string", "enum": [state.value for state in JobState]},
                "queue": {"type": "string"},
                "params": {"type": "object"},
                "progress": {
                    "type": "object",
                    "properties": {
                        "done": {"type": "integer"},
                        "total": {"type": ["integer", "null"]},
                        "percent": {"type": ["number", "null"]},
                        "message": {"type": ["string", "null"]},
                    },
                },
                "attempts": {"type": "integer"},
                "cancel_requested": {"type": "boolean"},
                "submitted_by": {"type": ["string", "null"]},
                "created_at": timestamp,
                "started_at": timestamp,
                "finished_at": timestamp,
                "updated_at": timestamp,
                "result": {"type": ["object", "null"]},
                "error": {"type": ["object", "null"], "properties": {"type": {"type": "string"},
                                                                      "message": {"type": "string"}}},
                "attempt_history": {"type": "array", "items": _ref("Attempt")},
                "links": {"type": "object", "properties": {"self": {"type": "string"}}},
            },
        },
        "Attempt": {
            "type": "object",
            "properties": {
                "number": {"type": "integer"},
                "outcome": {"type": "string", "enum": ["running", "succeeded", "failed", "retrying", "cancelled", "lost"]},
                "worker": {"type": ["string", "null"]},
                "error": {"type": ["object", "null"]},
                "started_at": timestamp,
                "finished_at": timestamp,
            },
        },
        "JobPage": {
            "type": "object",
            "properties": {"items": {"type": "array", "items": _ref("Job")}, "next_cursor": {"type": ["string", "null"]}},
        },
        "Error": {
            "type": "object",
            "properties": {
                "error": {
                    "type": "object",
                    "properties": {
                        "status": {"type": "integer"},
                        "message": {"type": "string"},
                        "fields": {"type": "array", "items": {"type": "object", "properties": {
                            "field": {"type": "string"}, "reason": {"type": "string"}}}},
                    },
                }
            },
        },
        "SleepRequest": SleepRequest.model_json_schema(),
        "Health": {"type": "object", "properties": {"status": {"type": "string"}, "checks": {"type": "object"},
                                                      "failed": {"type": "array", "items": {"type": "string"}}}},
    }


def openapi_document() -> dict[str, Any]:
    job_actions = {
        "202": _json(_ref("Job"), "accepted; the job as it is now"),
        "404": _error("no such job"),
        "409": _error("the job's state does not allow it"),
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Background jobs API", "version": "1.0.0",
                 "description": "Submit long-running jobs and poll their state. Timestamps are UTC ISO-8601."},
        "paths": {
            "/api/jobs": {"get": {
                "summary": "List jobs, newest first",
                "parameters": [
                    {"name": "state", "in": "query", "schema": {"type": "string", "enum": [s.value for s in JobState]}},
                    {"name": "kind", "in": "query", "schema": {"type": "string", "enum": sorted(JOB_KINDS)}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                    {"name": "cursor", "in": "query", "schema": {"type": "string"},
                     "description": "next_cursor of the previous page"},
                ],
                "responses": {"200": _json(_ref("JobPage"), "a page of jobs"), "422": _error("bad parameter")},
            }},
            "/api/jobs/{job_id}": {"get": {
                "summary": "A job's state, progress, result or error",
                "parameters": [JOB_ID, {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}],
                "responses": {
                    "200": _json(_ref("Job"), "the job", {"ETag": {"schema": {"type": "string"}}, **RETRY_AFTER}),
                    "304": {"description": "unchanged since the ETag given"},
                    "404": _error("no such job"),
                },
            }},
            "/api/jobs/{job_id}/cancel": {"post": {
                "summary": "Cancel: a queued job never runs; a running one stops at its next checkpoint",
                "parameters": [JOB_ID], "responses": job_actions,
            }},
            "/api/jobs/{job_id}/retry": {"post": {
                "summary": "Start a new attempt of a failed job",
                "parameters": [JOB_ID], "responses": job_actions,
            }},
            "/api/diagnostics/sleep": {"post": {
                "summary": "Submit a diagnostic job that sleeps, reports progress and can fail on purpose",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("SleepRequest")}}},
                "responses": {
                    "202": _json(_ref("Job"), "accepted", LOCATION),
                    "400": _error("malformed JSON"),
                    "415": _error("not JSON"),
                    "422": _error("invalid fields, each with its reason"),
                },
            }},
            "/api/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3"}}}},
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": _json(_ref("Health"), "alive")}}},
            "/readyz": {"get": {"summary": "Database and broker reachable", "responses": {
                "200": _json(_ref("Health"), "ready"), "503": _json(_ref("Health"), "a dependency is unreachable")}}},
        },
        "components": {"schemas": _schemas()},
    }


@bp.get("/api/openapi.json")
def openapi_json() -> Response:
    return jsonify(openapi_document())
