"""Settings read once from the environment, with typed parsing and start-up errors that name the variable."""
from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal

from limits import parse_many
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The broker's own bound on redeliveries of one message (quorum queue `x-delivery-limit`).
# It is part of each queue's declaration, so it is a constant: changing it means
# re-declaring the queues. The application's own bound (MAX_WORKER_LOST) must stay below it.
QUORUM_DELIVERY_LIMIT = 20

EXAMPLE_SECRET_KEY = "dev-insecure-change-me"
MIN_SECRET_KEY_LENGTH = 32

RATE_LIMIT_FIELDS = (
    "login_rate_limit", "login_rate_limit_per_ip", "submit_rate_limit_per_token", "submit_rate_limit_per_user",
)

# (backend, driver) pairs whose driver is installed; `postgresql://` means psycopg 3 in SQLAlchemy 2.1.
SUPPORTED_DATABASE_DRIVERS = {("sqlite", "pysqlite"), ("postgresql", "psycopg")}

TIME_LIMIT_SUFFIX = "_time_limit_s"


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message names the variable."""


class Settings(BaseModel):
    """Every tunable of the application. Field names are the environment variables, upper-cased."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    app_env: Literal["development", "test", "production"] = "development"
    secret_key: str = EXAMPLE_SECRET_KEY
    var_dir: Path = PROJECT_ROOT / "var"
    database_url: str = "sqlite:///var/app.db"

    broker_url: str = "amqp://guest:guest@127.0.0.1:5672//"
    broker_connect_timeout_s: float = Field(0.5, gt=0)
    broker_management_url: str = "http://127.0.0.1:15672"
    broker_consumer_timeout_s: int = Field(1800, gt=0)
    broker_outage_cooldown_s: float = Field(5.0, ge=0)
    # Other services' queues on the `events` exchange, comma-separated, shown with their depth on the overview.
    event_queues: str = Field("", max_length=2000)

    job_max_retries: int = Field(5, ge=0)
    retry_backoff_base_s: float = Field(1.0, ge=1)
    retry_backoff_max_s: float = Field(300.0, gt=0)
    max_worker_lost: int = Field(3, ge=1)
    # Celery task events from the start (else only once Flower, or another monitor, turns them on).
    worker_task_events: bool = False
    # A pool process above this resident size is replaced once its job ends, so a leaking job cannot grow a
    # worker forever (Celery's worker_max_memory_per_child; the Procfile's ETL line allows more per import).
    worker_max_memory_mb: int = Field(400, ge=1)

    # One soft time limit per job family (a group of queues); a queue names its family (jobs/topology.py).
    diagnostics_time_limit_s: int = Field(120, gt=0)
    invoices_time_limit_s: int = Field(300, gt=0)
    etl_time_limit_s: int = Field(1500, gt=0)
    notifications_time_limit_s: int = Field(120, gt=0)
    time_limit_grace_s: int = Field(30, ge=1)

    relay_poll_interval_s: float = Field(0.5, gt=0)
    relay_batch_size: int = Field(1000, gt=0)
    relay_grace_s: float = Field(2.0, ge=0)
    relay_max_backoff_s: float = Field(30.0, gt=0)
    outbox_retention_h: float = Field(168.0, gt=0)

    web_host: str = "127.0.0.1"
    web_port: int = Field(8000, gt=0, lt=65536)
    web_workers: int = Field(2, gt=0)
    web_threads: int = Field(8, gt=0)
    # Live job pages hold a thread each; streams end after sse_max_s (browsers reconnect) and past
    # sse_max_streams per web worker process a page falls back to polling.
    sse_max_s: float = Field(30.0, gt=0)
    sse_max_streams: int = Field(4, ge=0)
    sse_max_streams_per_user: int = Field(2, ge=0)
    sse_poll_interval_s: float = Field(0.5, gt=0)
    flower_host: str = "127.0.0.1"
    flower_port: int = Field(5555, gt=0, lt=65536)
    flower_basic_auth: str = ""
    # Tasks Flower keeps in memory (and in var/flower.db); the oldest are forgotten, so its memory stays bounded.
    flower_max_tasks: int = Field(10_000, ge=100)
    # Where the web app's /flower/ proxy reaches Flower; empty: FLOWER_HOST:FLOWER_PORT (127.0.0.1 for 0.0.0.0).
    flower_upstream_url: str = ""
    # The navigation's link to Flower; empty: the web app's /flower/ proxy (webapp/flower_proxy.py).
    flower_public_url: str = ""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    session_lifetime_h: float = Field(12.0, gt=0)
    login_rate_limit: str = "5 per 15 minutes"
    login_rate_limit_per_ip: str = "30 per hour"
    submit_rate_limit_per_token: str = "300 per minute"
    submit_rate_limit_per_user: str = "600 per minute"
    ratelimit_storage_uri: str = "memory://"
    max_request_kb: int = Field(1024, gt=0)
    trusted_proxies: int = Field(0, ge=0, le=5)
    bootstrap_admin_email: str = "admin@localhost"
    # How long a web process trusts a bearer token it has checked; a revocation made elsewhere takes at most this long.
    token_cache_s: float = Field(5.0, ge=0, le=300)

    # Retention: finished jobs (with attempts, audit entries, idempotency keys) and import files are
    # purged after these many days by `flask jobs purge` and the relay; 0 keeps them. Never invoices.
    job_retention_days: float = Field(90.0, ge=0)
    upload_retention_days: float = Field(14.0, ge=0)
    max_upload_mb: int = Field(1024, gt=0)
    # A compressed upload may unpack to at most this many MB, and to at most MAX_COMPRESSION_RATIO times its size.
    max_uncompressed_mb: int = Field(4096, gt=0)
    max_compression_ratio: float = Field(200.0, ge=2)
    etl_chunk_rows: int = Field(50_000, ge=100, le=1_000_000)
    etl_reject_threshold_pct: float = Field(5.0, ge=0, le=100)
    # errors.csv lists at most this many rows and MB, then says how many more were rejected.
    etl_errors_max_rows: int = Field(10_000, ge=1)
    etl_errors_max_mb: int = Field(10, ge=1)

    seller_name: str = "Example Seller Ltd"
    seller_address: str = "1 Example Street\n10115 Berlin"
    seller_country: str = "DE"
    seller_email: str = "billing@example.com"
    seller_tax_id: str = ""
    invoice_due_days: int = Field(30, ge=0, le=365)
    invoice_batch_tax_rate_pct: float = Field(0.0, ge=0, le=100)

    smtp_host: str = ""
    smtp_port: int = Field(25, gt=0, lt=65536)
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_timeout_s: float = Field(10.0, gt=0)
    mail_from: str = "billing@example.com"

    @field_validator("var_dir")
    @classmethod
    def _anchor_var_dir(cls, value: Path) -> Path:
        return value if value.is_absolute() else PROJECT_ROOT / value

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        for family in JOB_FAMILIES:
            hard = getattr(self, f"{family}{TIME_LIMIT_SUFFIX}") + self.time_limit_grace_s
            if hard >= self.broker_consumer_timeout_s:
                raise ValueError(
                    f"{family.upper()}_TIME_LIMIT_S + TIME_LIMIT_GRACE_S = {hard} s must stay below "
                    f"BROKER_CONSUMER_TIMEOUT_S ({self.broker_consumer_timeout_s} s), or RabbitMQ "
                    "closes the channel of a job that is still running"
                )
        if self.max_worker_lost >= QUORUM_DELIVERY_LIMIT:
            raise ValueError(f"MAX_WORKER_LOST must be below the queues' delivery limit {QUORUM_DELIVERY_LIMIT}")
        if self.app_env != "development" and self.secret_key == EXAMPLE_SECRET_KEY:
            raise ValueError("SECRET_KEY: the example key is refused outside development; set a random one")
        if self.app_env != "development" and len(self.secret_key) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(f"SECRET_KEY: must be at least {MIN_SECRET_KEY_LENGTH} characters outside development")
        if self.app_env == "production" and ":" not in self.flower_basic_auth:
            raise ValueError("FLOWER_BASIC_AUTH: production needs user:password for Flower")
        if self.retry_backoff_max_s < self.retry_backoff_base_s:
            raise ValueError("RETRY_BACKOFF_MAX_S must not be below RETRY_BACKOFF_BASE_S")
        if not _supported_database_url(self.database_url):
            raise ValueError(
                "DATABASE_URL: only sqlite:///<path> and postgresql+psycopg://user@host/db URLs are supported"
            )
        return self

    @field_validator(*RATE_LIMIT_FIELDS)
    @classmethod
    def _parse_rate_limit(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate limit like '5 per 15 minutes' or '100/minute'") from None
        return value

    def time_limits(self, family: str) -> tuple[int, int]:
        """(soft, hard) time limit in seconds for a job family (a queue group)."""
        soft: int = getattr(self, f"{family}{TIME_LIMIT_SUFFIX}")
        return soft, soft + self.time_limit_grace_s

    @property
    def resolved_database_url(self) -> str:
        """DATABASE_URL with a relative SQLite path anchored at the project root."""
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix) and not self.database_url.startswith(prefix + "/"):
            relative = self.database_url[len(prefix):]
            if relative and relative != ":memory:":
                return prefix + str(PROJECT_ROOT / relative)
        return self.database_url

    @property
    def upload_dir(self) -> Path:
        return self.var_dir / "uploads"

    @property
    def invoice_dir(self) -> Path:
        return self.var_dir / "invoices"

    @property
    def mail_dir(self) -> Path:
        """Where emails go as .eml files when no SMTP_HOST is set (the embedded default)."""
        return self.var_dir / "mail"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


# The job families are the settings that hold their time limits: adding a family is adding its setting.
JOB_FAMILIES: tuple[str, ...] = tuple(
    name.removesuffix(TIME_LIMIT_SUFFIX) for name in Settings.model_fields if name.endswith(TIME_LIMIT_SUFFIX))


def _supported_database_url(url: str) -> bool:
    try:
        parsed = make_url(url)
        return (parsed.get_backend_name(), parsed.get_driver_name()) in SUPPORTED_DATABASE_DRIVERS
    except (ArgumentError, NoSuchModuleError):
        return False


def _format_error(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]).upper()
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{name}: {message}" if name else message)
    return "invalid configuration: " + "; ".join(lines)


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build Settings from `environ` (default: the process environment); raise SettingsError naming the variable."""
    source = dict(os.environ if environ is None else environ)
    values: dict[str, object] = {
        field: source[field.upper()] for field in Settings.model_fields if field.upper() in source
    }
    values.update(overrides)
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        raise SettingsError(_format_error(error)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return load_settings()
