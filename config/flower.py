"""Flower's options, derived from the application's settings (read by config/flowerconfig.py).

Flower takes its options from the command line, `FLOWER_*` variables and a config file; the file is
the only one of the three that can compute values (the management API's URL with the broker's
credentials, the state file under VAR_DIR) and keep the password off the command line, where `ps`
shows it to every user of the host.
"""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from config.settings import Settings


def flower_broker_api(settings: Settings) -> str:
    """The management API URL with the broker's credentials, as Flower's broker_api wants it."""
    broker = urlsplit(settings.broker_url)
    management = urlsplit(settings.broker_management_url.rstrip("/"))
    credentials = f"{broker.username or 'guest'}:{broker.password or 'guest'}@"
    return urlunsplit((management.scheme, credentials + management.netloc, management.path + "/api/", "", ""))


def flower_options(settings: Settings) -> dict[str, object]:
    """Flower's option names and values (tornado's names, as `--name=value` would set them)."""
    options: dict[str, object] = {
        "address": settings.flower_host,
        "port": settings.flower_port,
        "persistent": True,
        "db": str(settings.var_dir / "flower.db"),
        "broker_api": flower_broker_api(settings),
        # People reach Flower through the web app's /flower/ (webapp/flower_proxy.py), which signs them in.
        "url_prefix": "flower",
        "max_tasks": settings.flower_max_tasks,
    }
    if settings.flower_basic_auth:
        options["basic_auth"] = [settings.flower_basic_auth]
    return options
