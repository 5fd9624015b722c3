"""The baseline web app: one Flask JSON endpoint of the job document's size, no database, no auth.

`gunicorn -c config/gunicorn.conf.py "bench.bare_flask:create_bare_app()"`.
"""
from __future__ import annotations

from flask import Flask, Response, jsonify

DOCUMENT = {
    "id": "00000000-0000-0000-0000-000000000000", "kind": "diagnostics.noop", "state": "succeeded",
    "queue": "diagnostics", "params": {}, "progress": {"done": 0, "total": None, "message": None},
    "attempts": 1, "result": {"ok": True, "attempt": 1}, "error": None, "submitted_by": "operator@example.test",
    "created_at": "2026-11-23T12:00:00Z", "started_at": "2026-11-23T12:00:00Z",
    "finished_at": "2026-11-23T12:00:00Z", "updated_at": "2026-11-23T12:00:00Z",
}


def create_bare_app() -> Flask:
    app = Flask(__name__)

    @app.get("/api/jobs/<job_id>")
    def get_job(job_id: str) -> Response:
        return jsonify({**DOCUMENT, "id": job_id})

    return app
