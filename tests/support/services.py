"""Isolated resources on the machine's real services: a RabbitMQ vhost and a PostgreSQL database per run."""
from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

import psycopg
from kombu import Connection
from sqlalchemy.engine import make_url

POSTGRES_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
RABBIT_USER = "guest"


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


@contextmanager
def rabbit_vhost(prefix: str = "jobs-test") -> Iterator[str]:
    """A fresh vhost for this run (so runs never collide); yields its broker URL."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    _rabbitmqctl("add_vhost", name)
    try:
        _rabbitmqctl("set_permissions", "-p", name, RABBIT_USER, ".*", ".*", ".*")
        yield f"amqp://guest:guest@127.0.0.1:5672/{name}"
    finally:
        _rabbitmqctl("delete_vhost", name)


@contextmanager
def postgres_database(prefix: str = "jobs_test") -> Iterator[str]:
    """A fresh PostgreSQL database for this run; yields its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def postgres_outage(database_url: str) -> Iterator[None]:
    """Make a database refuse every connection (superusers too) and drop the open ones, until the block ends."""
    name = make_url(database_url).database
    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def close_broker_connections(broker_url: str) -> None:
    """Close every client connection to the URL's vhost at once, as a network cut or broker restart would."""
    vhost = unquote(urlsplit(broker_url).path[1:]) or "/"
    _rabbitmqctl("close_all_connections", "--vhost", vhost, "--limit", "1000", "closed by a test")


def drain_queue(broker_url: str, queue: str) -> list[dict]:
    """Take every message out of `queue`; return each as {"args", "headers"} (Celery protocol 2 bodies)."""
    messages = []
    with Connection(broker_url) as connection:
        channel = connection.default_channel
        while (message := channel.basic_get(queue, no_ack=False)) is not None:
            args, _kwargs, _embed = json.loads(message.body)
            messages.append({"args": args, "headers": dict(message.headers or {})})
            channel.basic_ack(message.delivery_tag)
    return messages


def queue_depth(broker_url: str, queue: str) -> int:
    with Connection(broker_url) as connection:
        _name, count, _consumers = connection.default_channel.queue_declare(queue, passive=True)
    return count
