"""Validate every setting and print, as shell `export` lines, what `make run`'s banner shows.

Used by `make run`: `eval "$(python -m config.process_env)"`. A bad setting stops start-up here,
with a message naming the variable. The Procfile itself needs none of these: its lines run under any
Procfile runner given only `.env` (Flower reads config/flowerconfig.py, workers default the log level).
"""
from __future__ import annotations

import shlex
import sys

from config.settings import Settings, SettingsError, load_settings


def process_environment(settings: Settings) -> dict[str, str]:
    return {
        "FLOWER_HOST": settings.flower_host,
        "FLOWER_PORT": str(settings.flower_port),
        "FLOWER_BASIC_AUTH": settings.flower_basic_auth,
        "LOG_LEVEL": settings.log_level,
    }


def main() -> int:
    """Print shell lines for `eval`: the exports, or an error that stops the script."""
    try:
        settings = load_settings()
    except SettingsError as error:
        sys.stdout.write(f"echo {shlex.quote(str(error))} >&2; exit 1\n")
        return 1
    for name, value in process_environment(settings).items():
        sys.stdout.write(f"export {name}={shlex.quote(value)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
