"""`flask db …` and `flask jobs …` commands."""
from __future__ import annotations

import logging
import signal
import socket
from pathlib import Path
from typing import Any

import click
from alembic import command
from alembic.config import Config
from flask import Flask
from flask.cli import AppGroup

from config.settings import PROJECT_ROOT, Settings
from jobs.celery_app import declare_topology
from jobs.metrics import own_metrics_dir
from jobs.relay import OutboxRelay
from webapp.retention import purge
from webapp.runtime import runtime

db_cli = AppGroup("db", help="Database schema.")
jobs_cli = AppGroup("jobs", help="Job platform processes and maintenance.")


def alembic_config(settings: Settings) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", settings.resolved_database_url.replace("%", "%%"))
    return config


def upgrade_database(settings: Settings) -> None:
    """Apply every Alembic migration not yet applied."""
    if settings.is_sqlite:
        Path(settings.resolved_database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings), "head")


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations."""
    upgrade_database(runtime().settings)
    click.echo("database is up to date")


@jobs_cli.command("declare-topology")
def jobs_declare_topology() -> None:
    """Declare the exchanges, task queues and dead-letter queues on the broker."""
    with runtime().celery.connection_for_write() as connection:
        declare_topology(connection)
    click.echo("broker topology declared")


@jobs_cli.command("purge")
def jobs_purge() -> None:
    """Delete finished jobs past JOB_RETENTION_DAYS and import files past UPLOAD_RETENTION_DAYS (never invoices)."""
    purged = purge(runtime().db, runtime().settings)
    click.echo(f"purged {purged.jobs} finished jobs and {purged.files} import files")


@jobs_cli.command("relay")
@click.option("--once", is_flag=True, help="Publish one batch and exit.")
def jobs_relay(once: bool) -> None:
    """Publish outbox messages the web requests could not, oldest first, until stopped."""
    settings = runtime().settings
    relay = OutboxRelay(
        runtime().publisher,
        batch_size=settings.relay_batch_size,
        grace_s=settings.relay_grace_s,
        poll_interval_s=settings.relay_poll_interval_s,
        max_backoff_s=settings.relay_max_backoff_s,
        retention_s=settings.outbox_retention_h * 3600,
        purge=lambda: purge(runtime().db, settings),
    )
    if once:
        click.echo(f"published {relay.run_once()}")
        return
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    own_metrics_dir(settings.var_dir, f"relay-{socket.gethostname()}")  # the events it publishes, in /metrics
    logging.getLogger("jobs.outbox").info("relay started")
    relay.run_forever(lambda: stopping)
    runtime().publisher.close()


def register_commands(app: Flask) -> None:
    from webapp.account_commands import tokens_cli, users_cli

    for group in (db_cli, jobs_cli, users_cli, tokens_cli):
        app.cli.add_command(group)
