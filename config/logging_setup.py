"""Logging for the web and relay processes (Celery workers configure their own with `-l`)."""
from __future__ import annotations

import logging

from config.settings import Settings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(settings: Settings) -> None:
    """Send INFO lines (one per job state change, key=value) to stderr unless the host process already did."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=settings.log_level, format=LOG_FORMAT)
    for name in ("jobs", "webapp", "tasks"):
        logging.getLogger(name).setLevel(settings.log_level)
