"""Liveness and readiness probes.

/readyz is public (load balancers call it without credentials), so a failed check names the
dependency and the kind of failure only; the driver's message, with host and user names, is logged.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify
from kombu import Connection
from sqlalchemy import text

from webapp.access import public
from webapp.runtime import runtime

bp = Blueprint("health", __name__)
log = logging.getLogger("webapp.health")


def _unavailable(dependency: str, exc: Exception) -> str:
    log.warning("readiness: %s unavailable: %s: %s", dependency, type(exc).__name__, str(exc).splitlines()[0][:300]
                if str(exc) else "")
    return f"unavailable ({type(exc).__name__})"


@bp.get("/healthz")
@public
def healthz() -> Response:
    return jsonify({"status": "ok"})


def _check_database() -> str | None:
    try:
        with runtime().db.read_session() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the reason is reported
        return _unavailable("database", exc)
    return None


def _check_broker() -> str | None:
    settings = runtime().settings
    try:
        with Connection(settings.broker_url, connect_timeout=settings.broker_connect_timeout_s) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the reason is reported
        return _unavailable("broker", exc)
    return None


@bp.get("/readyz")
@public
def readyz() -> tuple[Response, int]:
    checks = {"database": _check_database(), "broker": _check_broker()}
    failed = {name: reason for name, reason in checks.items() if reason}
    body: dict[str, Any] = {"status": "unavailable" if failed else "ready",
                            "checks": {k: (v or "ok") for k, v in checks.items()}}
    if failed:
        body["failed"] = sorted(failed)
    return jsonify(body), 503 if failed else 200
