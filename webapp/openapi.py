"""The OpenAPI 3 document of the REST API."""
from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from accounts.roles import Role
from etl.datasets import DATASETS
from jobs.kinds import declared_kinds
from jobs.states import AttemptOutcome, JobState
from webapp.rate_limits import SUBMITS_JOBS

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


USER_ID = {"name": "user_id", "in": "path", "required": True, "schema": {"type": "integer"}}
PUBLIC: list[dict[str, list[str]]] = []  # an operation's `security` when it needs no credentials

LOCATION = {"Location": {"schema": {"type": "string"}, "description": "the job's status URL"}}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait before polling again"}}


def _schemas() -> dict[str, Any]:
    from webapp.api.accounts import NewToken, NewUser
    from webapp.schedule_service import NewSchedule, ScheduleChange
    from webapp.schemas.invoices import BatchBody, InvoiceBody
    from webapp.schemas.jobs import SleepRequest

    timestamp = {"type": ["string", "null"], "format": "date-time"}
    return {
        "Job": {
            "type": "object",
            "required": ["id", "kind", "state", "queue", "progress", "attempts", "created_at", "links"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "kind": {"type": "string", "enum": list(declared_kinds())},
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
                "audit": {"type": "array", "items": _ref("AuditEntry")},
                "links": {"type": "object", "properties": {"self": {"type": "string"}}},
            },
        },
        "Attempt": {
            "type": "object",
            "properties": {
                "number": {"type": "integer"},
                "outcome": {"type": "string", "enum": [outcome.value for outcome in AttemptOutcome]},
                "worker": {"type": ["string", "null"]},
                "error": {"type": ["object", "null"]},
                "started_at": timestamp,
                "finished_at": timestamp,
            },
        },
        "AuditEntry": {
            "type": "object",
            "description": "who submitted, cancelled, retried, replayed the job or discarded its dead letter",
            "properties": {
                "action": {"type": "string", "enum": ["submitted", "cancelled", "retried", "replayed", "discarded"]},
                "by": {"type": ["string", "null"], "description": "the user's email"},
                "via": {"type": ["string", "null"], "description": "session, token:<name> or cli"},
                "at": timestamp,
            },
        },
        "User": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "email": {"type": "string"},
                "role": {"type": "string", "enum": [role.value for role in Role]},
                "enabled": {"type": "boolean"},
                "created_at": timestamp,
                "last_login_at": timestamp,
                "disabled_at": timestamp,
                "active_tokens": {"type": "integer"},
            },
        },
        "NewUser": NewUser.model_json_schema(),
        "NewToken": NewToken.model_json_schema(),
        "NewSchedule": NewSchedule.model_json_schema(),
        "ScheduleChange": ScheduleChange.model_json_schema(),
        "Token": {
            "type": "object",
            "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "hint": {"type": "string"},
                           "created_at": timestamp, "last_used_at": timestamp, "expires_at": timestamp,
                           "revoked_at": timestamp},
        },
        "CreatedToken": {
            "type": "object",
            "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "hint": {"type": "string"},
                           "created_at": timestamp, "expires_at": timestamp,
                           "token": {"type": "string", "description": "shown only in this answer"}},
        },
        "Me": {"type": "object", "properties": {"email": {"type": "string"}, "role": {"type": "string"},
                                                "via": {"type": "string"}}},
        "InvoiceBody": InvoiceBody.model_json_schema(),
        "BatchBody": BatchBody.model_json_schema(),
        "Invoice": {
            "type": "object",
            "properties": {
                "id": {"type": "string", "format": "uuid"}, "number": {"type": "string"},
                "job_id": {"type": "string", "format": "uuid"}, "customer": {"type": "object"},
                "currency": {"type": "string"}, "issue_date": {"type": "string", "format": "date"},
                "due_date": {"type": "string", "format": "date"},
                **{name: {"type": "string", "description": "decimal string"}
                   for name in ("subtotal", "tax_total", "total")},
                "taxes": {"type": "array", "items": {"type": "object"}}, "notes": {"type": ["string", "null"]},
                "pdf_url": {"type": ["string", "null"]}, "lines": {"type": "array", "items": {"type": "object"}},
            },
        },
        "ImportSummary": {
            "type": "object",
            "properties": {
                "dataset": {"type": "string"}, "job_id": {"type": "string", "format": "uuid"},
                "state": {"type": "string"}, "filename": {"type": "string"},
                **{name: {"type": "integer"} for name in (
                    "rows_read", "rows_loaded", "rows_inserted", "rows_updated", "rows_unchanged", "rows_rejected",
                    "size_bytes")},
                "unknown_columns": {"type": "array", "items": {"type": "string"}},
                "errors_url": {"type": "string"}, "duration_s": {"type": ["number", "null"]},
                "encoding": {"type": ["string", "null"]}, "delimiter": {"type": "string"},
                "compressed": {"type": "boolean"}, "finished": {"type": "boolean"}, "created_at": timestamp,
                "job": _ref("Job"),
            },
        },
        "JobPage": {
            "type": "object",
            "properties": {"items": {"type": "array", "items": _ref("Job")},
                           "next_cursor": {"type": ["string", "null"]},
                           "count": {"type": "integer", "description": "jobs matching the filters, all pages"}},
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


IDEMPOTENCY_KEY = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"},
                   "description": "the same key and body answer the first job (per user); another body with it "
                                  "is a 422"}


def openapi_path(rule: str) -> str:
    """A Flask rule as an OpenAPI path: /api/jobs/<job_id> -> /api/jobs/{job_id}."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _with_submit_options(paths: dict[str, Any]) -> dict[str, Any]:
    """Every endpoint that submits jobs (webapp.rate_limits marks it) takes an Idempotency-Key and has a rate limit."""
    for rule in current_app.url_map.iter_rules():
        path = openapi_path(rule.rule)
        if path not in paths or not getattr(current_app.view_functions[rule.endpoint], SUBMITS_JOBS, False):
            continue  # the pages' forms submit jobs too; the document is the API's
        operation = paths[path]["post"]
        operation["parameters"] = [*operation.get("parameters", []), IDEMPOTENCY_KEY]
        responses = operation["responses"]
        responses["202"]["description"] += " (or, with a known Idempotency-Key and the same body, the first job)"
        responses["409"] = _error("a request with this Idempotency-Key is still being accepted (Retry-After)")
        responses["422"]["description"] += "; or an Idempotency-Key used with another body"
        responses["429"] = _error("the token's or the user's submit rate limit is reached (Retry-After)")
    return paths


def _with_access_errors(paths: dict[str, Any]) -> dict[str, Any]:
    """Every operation that needs credentials can answer 401 and 403; every POST can answer 413."""
    for operations in paths.values():
        for method, operation in operations.items():
            responses = operation["responses"]
            if operation.get("security") != PUBLIC:
                responses.setdefault("401", _error("no session and no valid API token (WWW-Authenticate: Bearer)"))
                responses.setdefault("403", _error("the caller's role does not allow this"))
            if method == "post":
                responses.setdefault("413", _error("the request body is larger than MAX_REQUEST_KB"))
    return paths


def _etl_paths() -> dict[str, Any]:
    summary = _json(_ref("ImportSummary"), "the import's summary and its job")
    return {
        "/api/etl": {"post": {
            "summary": "Upload a CSV (or .csv.gz) to import into a dataset (operator)",
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["file", "dataset"],
                "properties": {"file": {"type": "string", "format": "binary"},
                               "dataset": {"type": "string", "enum": sorted(DATASETS)}}}}}},
            "responses": {
                "202": _json(_ref("Job"), "accepted", LOCATION),
                "413": _error("the file is larger than MAX_UPLOAD_MB"),
                "422": _error("unknown dataset (the known ones are listed), no file, or a header without a "
                              "required column (named)"),
            },
        }},
        "/api/etl/{job_id}": {"get": {
            "summary": "An import's summary: rows read, loaded, inserted, updated, unchanged, rejected",
            "parameters": [JOB_ID], "responses": {"200": summary, "404": _error("no such import")},
        }},
        "/api/etl/{job_id}/errors.csv": {"get": {
            "summary": "The rejected rows: line, column, value, reason (formula-like cells prefixed with ')",
            "parameters": [JOB_ID],
            "responses": {"200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
                          "404": _error("no such import, or it has not started")},
        }},
    }


def _invoice_paths() -> dict[str, Any]:
    invoice_id = {"name": "invoice_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
    submit = {
        "202": _json(_ref("Job"), "accepted", LOCATION),
        "422": _error("invalid fields, each with its reason"),
    }
    return {
        "/api/invoices": {
            "post": {"summary": "Issue an invoice (operator): a job numbers it, renders its PDF and emails it",
                     "requestBody": {"required": True,
                                     "content": {"application/json": {"schema": _ref("InvoiceBody")}}},
                     "responses": submit},
            "get": {"summary": "Invoices, newest first",
                    "parameters": [{"name": name, "in": "query", "schema": schema} for name, schema in (
                        ("customer", {"type": "string"}), ("date_from", {"type": "string", "format": "date"}),
                        ("date_to", {"type": "string", "format": "date"}),
                        ("limit", {"type": "integer", "minimum": 1, "maximum": 100}), ("cursor", {"type": "string"}))],
                    "responses": {"200": _json({"type": "object", "properties": {
                        "items": {"type": "array", "items": _ref("Invoice")},
                        "next_cursor": {"type": ["string", "null"]}}}, "a page of invoices"),
                        "422": _error("bad parameter")}},
        },
        "/api/invoices/batch": {"post": {
            "summary": "Invoice every uninvoiced order of a period, one child job per customer (operator)",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("BatchBody")}}},
            "responses": submit,
        }},
        "/api/invoices/{invoice_id}": {"get": {
            "summary": "An invoice with its lines", "parameters": [invoice_id],
            "responses": {"200": _json(_ref("Invoice"), "the invoice"), "404": _error("no such invoice")},
        }},
        "/api/invoices/{invoice_id}/pdf": {"get": {
            "summary": "The invoice's PDF (Content-Disposition names it after its number)", "parameters": [invoice_id],
            "responses": {"200": {"description": "PDF", "content": {"application/pdf": {}}},
                          "404": _error("no such invoice, or its PDF is not rendered yet")},
        }},
    }


def _dead_letter_paths() -> dict[str, Any]:
    nullable_uuid = {"type": ["string", "null"], "format": "uuid"}
    dead_letter = {"type": "object", "properties": {
        "queue": {"type": "string", "description": "the dead-letter queue, <queue>.dead"},
        "original_queue": {"type": "string"}, "job_id": nullable_uuid,
        "kind": {"type": ["string", "null"], "description": "the task name"},
        "job_state": {"type": ["string", "null"], "description": "null when the job is not in the database"},
        "error": {"type": ["object", "null"]}, "attempts": {"type": ["integer", "null"]},
        "death_reason": {"type": ["string", "null"], "description": "x-death reason: rejected, delivery_limit, …"},
        "death_count": {"type": "integer"},
        "unparseable": {"type": ["string", "null"], "description": "why it cannot be read as a job's message"},
        "died_at": {"type": ["string", "null"], "format": "date-time"},
        "age_s": {"type": ["number", "null"]}, "links": {"type": "object"}}}
    unavailable = _error("the broker cannot be reached; nothing changed (or, for a replay, see the message)")
    one = {"parameters": [JOB_ID]}
    return {
        "/api/dead-letters": {"get": {
            "summary": "Messages in every dead-letter queue with their jobs (operator); listing leaves them in place",
            "parameters": [{"name": "limit", "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
            "responses": {"200": _json({"type": "object", "properties": {
                "items": {"type": "array", "items": dead_letter},
                "queues": {"type": "array", "items": {"type": "object", "properties": {
                    "queue": {"type": "string"}, "total": {"type": "integer"}}}},
                "total": {"type": "integer"}, "limit": {"type": "integer"}, "truncated": {"type": "boolean"}}},
                "dead letters, up to limit"), "422": _error("bad limit"), "503": unavailable},
        }},
        "/api/dead-letters/{job_id}/replay": {"post": {
            "summary": "Give the failed job of a dead letter a new attempt (audit `replayed`); its message goes back "
                       "to its queue with publisher confirms, then the dead letter is removed (operator)",
            **one, "responses": {
                "202": _json({"type": "object", "properties": {
                    "job_id": {"type": "string"}, "job": _ref("Job"), "messages_removed": {"type": "integer"},
                    "published": {"type": "boolean", "description": "false: the relay publishes it later and the "
                                                                     "dead letter stays"}}}, "replayed", LOCATION),
                "404": _error("no dead letter of this job"),
                "409": _error("the job is unknown or no longer failed; discard the dead letter instead"),
                "503": unavailable},
        }},
        "/api/dead-letters/{job_id}/discard": {"post": {
            "summary": "Remove a job's dead letter (audit `discarded`); the job stays as it is (operator)",
            **one, "responses": {
                "200": _json({"type": "object", "properties": {
                    "job_id": {"type": "string"}, "messages_removed": {"type": "integer"},
                    "job": {"oneOf": [_ref("Job"), {"type": "null"}]}}}, "discarded"),
                "404": _error("no dead letter of this job"), "503": unavailable},
        }},
        "/api/dead-letters/replay-all": {"post": {
            "summary": "Replay every dead letter whose job is failed; the others are listed as skipped (operator)",
            "responses": {"200": _json({"type": "object", "properties": {
                "replayed": {"type": "array", "items": {"type": "string"}},
                "skipped": {"type": "array", "items": {"type": "object", "properties": {
                    "job_id": {"type": "string"}, "reason": {"type": "string"}}}},
                "messages_removed": {"type": "integer"}}}, "what was replayed and skipped"), "503": unavailable},
        }},
        "/api/dead-letters/discard-all": {"post": {
            "summary": "Remove every dead letter; their jobs stay as they are (operator)",
            "responses": {"200": _json({"type": "object", "properties": {
                "discarded": {"type": "array", "items": {"type": "string"}},
                "messages_removed": {"type": "integer"}}}, "what was discarded"), "503": unavailable},
        }},
    }


def _search_parameters() -> list[dict[str, Any]]:
    """The job search's filters beyond state and kind, described by JobListQuery's own fields."""
    from webapp.schemas.jobs import JobListQuery

    dates = {"created_from", "created_to", "finished_from", "finished_to"}
    return [{"name": name, "in": "query", "description": field.description or f"a UTC day ({name})",
             "schema": {"type": "string", **({"format": "date"} if name in dates else {}),
                        **({"format": "uuid"} if name == "parent" else {})}}
            for name, field in JobListQuery.model_fields.items() if name not in ("state", "kind", "limit", "cursor")]


def _schedule_paths() -> dict[str, Any]:
    one = [{"name": "schedule_id", "in": "path", "required": True, "schema": {"type": "integer"}}]
    schedule = {"type": "object", "description": "a schedule with its next five run times in its zone, its "
                "last runs (submitted with their job, skipped or expired with the reason) and its audit trail"}
    missing = _error("no such schedule")
    return {
        "/api/schedules": {
            "get": {"summary": "List schedules", "responses": {"200": _json({"type": "object"}, "every schedule")}},
            "post": {"summary": "Create a schedule (operator): kind, params, rule (cron or 'every N seconds'), "
                               "timezone, overlap, catch_up, deadline_s",
                     "requestBody": {"required": True,
                                     "content": {"application/json": {"schema": _ref("NewSchedule")}}},
                     "responses": {"201": _json(schedule, "created"), "409": _error("the name is taken"),
                                   "422": _error("invalid fields, each with its reason")}},
        },
        "/api/schedules/{schedule_id}": {
            "get": {"summary": "A schedule with its next runs and last runs", "parameters": one,
                    "responses": {"200": _json(schedule, "the schedule"), "404": missing}},
            "patch": {"summary": "Change a schedule's fields (operator); a new rule or zone counts periods from now",
                      "parameters": one,
                      "requestBody": {"required": True,
                                      "content": {"application/json": {"schema": _ref("ScheduleChange")}}},
                      "responses": {"200": _json(schedule, "changed"), "404": missing,
                                    "409": _error("the name is taken"),
                                    "422": _error("invalid fields, each with its reason")}},
            "delete": {"summary": "Delete a schedule and its run records (operator); its jobs and audit trail stay",
                       "parameters": one, "responses": {"204": {"description": "deleted"}, "404": missing}},
        },
        "/api/schedules/{schedule_id}/pause": {"post": {
            "summary": "Pause (operator): no period is submitted", "parameters": one,
            "responses": {"200": _json(schedule, "paused"), "404": missing}}},
        "/api/schedules/{schedule_id}/resume": {"post": {
            "summary": "Resume (operator); periods count from now, those while paused are not owed", "parameters": one,
            "responses": {"200": _json(schedule, "resumed"), "404": missing}}},
        "/api/schedules/{schedule_id}/run-now": {"post": {
            "summary": "Submit the schedule's job now, outside its periods (operator)", "parameters": one,
            "responses": {"202": _json(_ref("Job"), "accepted"), "404": missing}}},
    }


def _account_paths() -> dict[str, Any]:
    created_user = {"201": _json(_ref("User"), "created"), "409": _error("the email is taken"),
                    "422": _error("invalid fields, each with its reason")}
    return {
        "/api/me": {"get": {"summary": "The caller: email, role, and whether a session or which token",
                            "responses": {"200": _json(_ref("Me"), "the caller")}}},
        "/api/users": {
            "get": {"summary": "List users (admin)",
                    "responses": {"200": _json({"type": "object", "properties": {
                        "items": {"type": "array", "items": _ref("User")}}}, "every user")}},
            "post": {"summary": "Create a user (admin)",
                     "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("NewUser")}}},
                     "responses": created_user},
        },
        "/api/users/{user_id}/disable": {"post": {
            "summary": "Disable a user (admin): their sessions end and their API tokens are revoked",
            "parameters": [USER_ID],
            "responses": {"200": _json(_ref("User"), "disabled"), "404": _error("no such user"),
                          "409": _error("the user is the last enabled admin")},
        }},
        "/api/users/{user_id}/tokens": {
            "get": {"summary": "A user's API tokens (admin): names, hints, use, expiry and revocation, never the token",
                    "parameters": [USER_ID],
                    "responses": {"200": _json({"type": "object", "properties": {
                        "items": {"type": "array", "items": _ref("Token")}}}, "the user's tokens"),
                        "404": _error("no such user")}},
            "post": {
                "summary": "Create an API token for a user (admin), optionally expiring; the token is shown only here",
                "parameters": [USER_ID],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("NewToken")}}},
                "responses": {"201": _json(_ref("CreatedToken"), "created"), "404": _error("no such user"),
                              "422": _error("invalid name or expiry, or the user is disabled")},
            },
        },
        "/api/users/{user_id}/tokens/{token_id}/revoke": {"post": {
            "summary": "Revoke one API token (admin); the user's other tokens and sessions keep working",
            "parameters": [USER_ID, {"name": "token_id", "in": "path", "required": True,
                                     "schema": {"type": "integer"}}],
            "responses": {"200": _json(_ref("Token"), "revoked (again: unchanged)"),
                          "404": _error("no such user or token")},
        }},
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
        "paths": _with_access_errors(_with_submit_options({
            "/api/jobs": {"get": {
                "summary": "Find jobs, newest first: every filter given must hold; `count` counts all pages",
                "parameters": [
                    {"name": "state", "in": "query", "schema": {"type": "string", "enum": [s.value for s in JobState]}},
                    {"name": "kind", "in": "query", "schema": {"type": "string", "enum": list(declared_kinds())}},
                    *_search_parameters(),
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
            "/api/jobs/{job_id}/events": {"get": {
                "summary": "Server-Sent Events: a `job` event (the Job, id = its ETag) on every change, `end` when it "
                           "has finished; a stream closes after SSE_MAX_S and the client reconnects with Last-Event-ID",
                "parameters": [JOB_ID, {"name": "Last-Event-ID", "in": "header", "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "the event stream",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                    "404": _error("no such job"),
                    "503": _error("this server has no free stream slot; poll GET /api/jobs/{job_id} (Retry-After)"),
                },
            }},
            "/api/overview": {"get": {
                "summary": "Jobs per state, ready messages per task and dead-letter queue and per event subscriber "
                           "queue (null when the broker does not answer) and the outbox backlog",
                "responses": {"200": _json({"type": "object", "properties": {
                    "jobs_by_state": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "queues": {"type": ["array", "null"], "items": {"type": "object", "properties": {
                        "name": {"type": "string"}, "ready": {"type": "integer"}, "consumers": {"type": "integer"},
                        "dead_letter": {"type": "boolean"},
                        "stalled": {"type": "boolean", "description": "ready messages and no consumer"}}}},
                    "event_queues": {"type": ["array", "null"], "items": {"type": "object", "properties": {
                        "name": {"type": "string"}, "ready": {"type": "integer"}, "dead_letter": {"type": "boolean"},
                        "binding_keys": {"type": ["array", "null"], "items": {"type": "string"}}}}},
                    "outbox": {"type": "object", "properties": {
                        "unsent": {"type": "integer"}, "oldest_age_s": {"type": ["number", "null"]}}},
                }}, "the overview")},
            }},
            "/api/jobs/{job_id}/cancel": {"post": {
                "summary": "Cancel (operator): a queued job never runs; a running one stops at its next checkpoint",
                "parameters": [JOB_ID], "responses": job_actions,
            }},
            "/api/jobs/{job_id}/retry": {"post": {
                "summary": "Start a new attempt of a failed job (operator)",
                "parameters": [JOB_ID], "responses": job_actions,
            }},
            "/api/diagnostics/sleep": {"post": {
                "summary": "Submit a diagnostic job that sleeps, reports progress and can fail on purpose (operator)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("SleepRequest")}}},
                "responses": {
                    "202": _json(_ref("Job"), "accepted", LOCATION),
                    "400": _error("malformed JSON"),
                    "415": _error("not JSON"),
                    "422": _error("invalid fields, each with its reason"),
                },
            }},
            **_etl_paths(),
            **_invoice_paths(),
            **_account_paths(),
            **_schedule_paths(),
            **_dead_letter_paths(),
            "/api/openapi.json": {"get": {"summary": "This document",
                                          "responses": {"200": {"description": "OpenAPI 3"}}}},
            "/healthz": {"get": {"summary": "Liveness", "security": PUBLIC,
                                 "responses": {"200": _json(_ref("Health"), "alive")}}},
            "/readyz": {"get": {"summary": "Database and broker reachable", "security": PUBLIC, "responses": {
                "200": _json(_ref("Health"), "ready"), "503": _json(_ref("Health"), "a dependency is unreachable")}}},
            "/metrics": {"get": {
                "summary": "Prometheus metrics (viewer; scrape with a bearer token): jobs by kind and state, run time "
                           "and queue wait histograms, retries, dead letters, queue depths, broker_up, outbox backlog",
                "responses": {"200": {"description": "Prometheus text format 0.0.4",
                                      "content": {"text/plain": {"schema": {"type": "string"}}}}},
            }},
        })),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "bearerToken": {"type": "http", "scheme": "bearer",
                                "description": "an API token from `flask tokens create` or "
                                               "POST /api/users/{id}/tokens"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "session",
                                  "description": "a signed-in browser; writes also need the X-CSRFToken header"},
            },
        },
        "security": [{"bearerToken": []}, {"sessionCookie": []}],
    }


@bp.get("/api/openapi.json")
def openapi_json() -> Response:
    return jsonify(openapi_document())
