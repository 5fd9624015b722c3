"""GET /api/overview: the home page's figures, refreshed by static/home.js."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify

from webapp.overview import overview
from webapp.runtime import runtime

bp = Blueprint("overview_api", __name__, url_prefix="/api")


@bp.get("/overview")
def get_overview() -> Response:
    return jsonify(overview(runtime()))
