"""The Flask application factory."""
from __future__ import annotations

from flask import Flask

from accounts.roles import Role
from config.logging_setup import configure_logging
from config.settings import Settings, get_settings
from webapp.access import register_access_policy
from webapp.commands import register_commands
from webapp.errors import register_errorhandlers
from webapp.extensions import csrf, limiter, login_manager
from webapp.runtime import WebRuntime
from webapp.security import configure_security


def create_app(settings: Settings | None = None) -> Flask:
    """Build the web application; `settings` defaults to the environment's."""
    settings = settings or get_settings()
    configure_logging(settings)
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keys in the contract's order
    app.jinja_env.globals["Role"] = Role
    configure_security(app, settings)
    register_extensions(app, settings)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def register_extensions(app: Flask, settings: Settings) -> None:
    app.extensions["jobs"] = WebRuntime.build(settings)
    login_manager.init_app(app)
    csrf.init_app(app)
    # The access policy runs before the rate limiter: submit limits are keyed by the caller's identity.
    register_access_policy(app)
    # No rate-limit headers on every response: Flask-Limiter would overwrite the Retry-After that tells a
    # client when to poll its job; a 429 gets its own Retry-After (webapp/errors.py).
    app.config.update(RATELIMIT_STORAGE_URI=settings.ratelimit_storage_uri, RATELIMIT_HEADERS_ENABLED=False)
    limiter.init_app(app)
    # Every limit here decorates its view, which checks the limit when it is called. The extension's
    # own check before every request found nothing to limit on the other views, at a third of a
    # status request's time (docs/benchmarks.md), so it is taken out.
    app.before_request_funcs[None].remove(limiter._check_request_limit)


def register_blueprints(app: Flask) -> None:
    from webapp import flower_proxy, health, login, metrics, openapi
    from webapp.api import accounts, dead_letters, diagnostics, etl, invoices, job_events, jobs, overview, schedules
    from webapp.pages import dead_letters as dead_letter_pages
    from webapp.pages import imports as import_pages
    from webapp.pages import invoices as invoice_pages
    from webapp.pages import jobs as job_pages
    from webapp.pages import schedules as schedule_pages

    blueprints = (health.bp, openapi.bp, login.bp, job_pages.bp, import_pages.bp, invoice_pages.bp,
                  jobs.bp, diagnostics.bp, etl.bp, invoices.bp, accounts.bp, job_events.bp, overview.bp,
                  dead_letters.bp, dead_letter_pages.bp, metrics.bp, flower_proxy.bp, schedules.bp,
                  schedule_pages.bp)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
