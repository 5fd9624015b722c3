"""Flower behind the app: `/flower/…` is a reverse proxy of Flower (bound to loopback) for the app's roles.

Operators read Flower (workers, tasks, broker) with their own sign-in or token; Flower's control
actions (revoke, terminate, rate limits, pool and worker control, sending tasks: every non-GET) are
for admins only and each is written to the log with who did it, and to the job's audit trail when
it names a job. The proxy sends Flower's own basic-auth credentials itself, so nobody needs a
second password and no browser reaches Flower's port. A write is accepted from a session only when
the browser says it comes from this site (Origin or Referer): Flower's pages cannot send the app's
CSRF token.
"""
from __future__ import annotations

import base64
import logging
import re
import urllib.error
import urllib.request
import uuid
from typing import Any

from flask import Blueprint, Response, request

from accounts.roles import Role
from jobs import audit, lifecycle
from jobs.audit import AuditAction
from webapp.access import current_actor, current_identity, requires, same_site_writes
from webapp.errors import ApiError
from webapp.runtime import runtime

bp = Blueprint("flower_proxy", __name__)
log = logging.getLogger("webapp.flower")

PREFIX = "flower"
MAX_BODY = 32 << 20
TIMEOUT_S = 15
# Request and response headers that belong to one hop, or that the proxy sets itself.
HOP_HEADERS = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                         "transfer-encoding", "upgrade", "host", "cookie", "authorization", "content-length",
                         "set-cookie", "www-authenticate", "origin", "referer"})  # checked here, not by Flower
# Flower's POSTs that change something; its others (tasks/datatable) only query.
CONTROL = re.compile(r"api/(?:worker/|task/(?:revoke|abort|timeout|rate-limit|apply|async-apply|send-task)/)")
TASK_ACTION = re.compile(r"api/task/(?:revoke|abort|timeout|rate-limit)/([0-9a-fA-F-]{36})")
# Flower's pages carry inline scripts; this policy is for its pages only (the app's own forbid them).
FLOWER_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
              "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # Flower's redirects go back to the browser, under /flower/


OPENER = urllib.request.build_opener(_NoRedirects)


def upstream_base() -> str:
    settings = runtime().settings
    if settings.flower_upstream_url:
        return settings.flower_upstream_url.rstrip("/")
    host = "127.0.0.1" if settings.flower_host in ("0.0.0.0", "") else settings.flower_host
    return f"http://{host}:{settings.flower_port}"


def _record(path: str, status: int) -> None:
    actor = current_actor()
    log.info("flower control %s %s by %s via %s: %s", request.method, path, actor.name, actor.via, status)
    match = TASK_ACTION.fullmatch(path)
    if match is None or status >= 400:
        return
    with runtime().db.transaction() as session:
        try:
            job = lifecycle.load(session, uuid.UUID(match.group(1)))
        except (lifecycle.JobNotFound, ValueError):
            return
        audit.record(session, job, AuditAction.FLOWER_CONTROL, actor)


@bp.route(f"/{PREFIX}/", defaults={"path": ""}, methods=["GET", "HEAD"])
@bp.route(f"/{PREFIX}/<path:path>", methods=["GET", "HEAD"])
@requires(Role.OPERATOR)
def flower(path: str) -> Response:
    """Flower's pages and read API, for operators."""
    return _proxy(path, control=False)


@bp.route(f"/{PREFIX}/", defaults={"path": ""}, methods=["POST"], endpoint="flower_control")
@bp.route(f"/{PREFIX}/<path:path>", methods=["POST"], endpoint="flower_control")
@requires(Role.OPERATOR)
@same_site_writes
def flower_control(path: str) -> Response:
    """Flower's POSTs: its task table's queries for operators; its control actions for admins only, each
    logged and audited on the job it names."""
    control = CONTROL.match(path) is not None
    if control and current_identity().role is not Role.ADMIN:
        raise ApiError(403, "Flower's control actions (revoke, terminate, rate limits, pool and worker control, "
                            "sending tasks) need the admin role")
    return _proxy(path, control=control)


def _proxy(path: str, *, control: bool) -> Response:
    url = f"{upstream_base()}/{PREFIX}/{path}" + (f"?{request.query_string.decode()}" if request.query_string else "")
    headers = {name: value for name, value in request.headers.items() if name.lower() not in HOP_HEADERS}
    credentials = runtime().settings.flower_basic_auth
    if credentials:
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    body = request.get_data() if request.method == "POST" else None
    upstream = urllib.request.Request(url, data=body, method=request.method, headers=headers)
    try:
        answer: Any = OPENER.open(upstream, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as error:
        answer = error  # Flower's own 4xx/5xx and redirects go back as they are
    except OSError:
        raise ApiError(502, "Flower is not answering; is its process running (Procfile: flower)?") from None
    with answer:
        payload: bytes = answer.read(MAX_BODY + 1)
        status = answer.status if hasattr(answer, "status") else answer.code
        response_headers = [(name, value) for name, value in answer.headers.items()
                            if name.lower() not in HOP_HEADERS]
    if len(payload) > MAX_BODY:
        raise ApiError(502, f"Flower's answer is larger than {MAX_BODY >> 20} MB; narrow the request")
    if control:
        _record(path, status)
    response = Response(payload, status=status, headers=response_headers)
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = FLOWER_CSP
    return response
