"""Logging for the web and relay processes, and the JSON line format Celery workers switch to as well.

LOG_FORMAT=text keeps the `key=value` lines; LOG_FORMAT=json writes one JSON object per line with
timestamp, level, logger and message, plus every `extra` field of the record (a job's state change
carries job_id, kind, state, attempt, queue and duration_s).
"""
from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter

from config.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def json_formatter() -> logging.Formatter:
    """One JSON object per line: timestamp (UTC ISO-8601), level, logger, message, then the record's extras."""
    return JsonFormatter("{levelname}{name}{message}", style="{", timestamp=True,
                         rename_fields={"levelname": "level", "name": "logger"})


def formatter_for(settings: Settings) -> logging.Formatter:
    return json_formatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT)


def use_formatter(logger: logging.Logger, formatter: logging.Formatter) -> None:
    """Give every handler of `logger` the formatter (for loggers another library has set up, such as Celery's)."""
    for handler in logger.handlers:
        handler.setFormatter(formatter)


def configure_logging(settings: Settings) -> None:
    """Send INFO lines (one per job state change) to stderr unless the host process already did."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(formatter_for(settings))
        root.addHandler(handler)
        root.setLevel(settings.log_level)
    for name in ("jobs", "webapp", "tasks"):
        logging.getLogger(name).setLevel(settings.log_level)
