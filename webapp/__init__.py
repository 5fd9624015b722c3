"""The Flask application factory."""
from __future__ import annotations

from flask import Flask

from config.logging_setup import configure_logging
from config.settings import Settings, get_settings
from webapp.commands import register_commands
from webapp.errors import register_errorhandlers
from webapp.runtime import WebRuntime


def create_app(settings: Settings | None = None) -> Flask:
    """Build the web application; `settings` defaults to the environment's."""
    settings = settings or get_settings()
    configure_logging(settings)
    app = Flask(__name__)
    app.config.update(SECRET_KEY=settings.secret_key)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keys in the contract's order
    register_extensions(app, settings)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def register_extensions(app: Flask, settings: Settings) -> None:
    app.extensions["jobs"] = WebRuntime.build(settings)


def register_blueprints(app: Flask) -> None:
    from webapp import health, openapi
    from webapp.api import diagnostics, jobs

    for blueprint in (health.bp, openapi.bp, jobs.bp, diagnostics.bp):
        app.register_blueprint(blueprint)
