"""The peer's Flask views: submit with `delay()` (publisher confirms) and status with `AsyncResult`.

`gunicorn -c config/gunicorn.conf.py "bench.peer_flask:create_peer_app()"`, with BROKER_URL and
PEER_BACKEND (bench/peer_celery.py) in the environment. No authentication, no outbox, no attempt
history: what a user of plain Celery with a result backend would write. The database backend's
engine is pooled, once per process, as a user who polls status from the web would configure it
(as shipped, Celery's database backend builds a new engine and connection for each lookup made
outside its own worker processes).
"""
from __future__ import annotations

import os

from celery.result import AsyncResult
from flask import Flask, Response, jsonify

from bench.peer_celery import make_peer_celery


def create_peer_app() -> Flask:
    celery = make_peer_celery(os.environ["BROKER_URL"], os.environ["PEER_BACKEND"])
    noop = celery.tasks["peer.noop"]
    app = Flask(__name__)

    @app.post("/api/jobs")
    def submit() -> tuple[Response, int]:
        result = noop.delay()
        return jsonify({"id": result.id, "state": "PENDING"}), 202

    @app.get("/api/jobs/<job_id>")
    def status(job_id: str) -> Response:
        backend = celery.backend  # one per thread (Celery keeps backends thread-local)
        if hasattr(backend, "session_manager"):
            backend.session_manager.forked = True  # its engine and pool kept, not made again for each lookup
        result = AsyncResult(job_id, app=celery, backend=backend)
        return jsonify({"id": job_id, "state": result.state, "result": result.result})

    @app.get("/api/ready")
    def ready() -> Response:
        return jsonify({"ok": True})

    return app
