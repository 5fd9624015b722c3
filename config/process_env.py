"""Print, as shell `export` lines, the values the Procfile's commands expand (after validating all settings).

Used by `make run`: `eval "$(python -m config.process_env)"`. A bad setting stops start-up here,
with a message naming the variable.
"""
from __future__ import annotations

import shlex
import sys
from urllib.parse import urlsplit, urlunsplit

from config.settings import Settings, SettingsError, load_settings


def flower_broker_api(settings: Settings) -> str:
    """The management API URL with the broker's credentials, as Flower's --broker-api wants it."""
    broker = urlsplit(settings.broker_url)
    management = urlsplit(settings.broker_management_url.rstrip("/"))
    credentials = f"{broker.username or 'guest'}:{broker.password or 'guest'}@"
    return urlunsplit((management.scheme, credentials + management.netloc, management.path + "/api/", "", ""))


def process_environment(settings: Settings) -> dict[str, str]:
    return {
        "FLOWER_HOST": settings.flower_host,
        "FLOWER_PORT": str(settings.flower_port),
        "FLOWER_BASIC_AUTH": settings.flower_basic_auth,
        "FLOWER_BROKER_API": flower_broker_api(settings),
        "FLOWER_DB": str(settings.var_dir / "flower.db"),
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
