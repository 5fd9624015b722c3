"""Flask extensions, created unbound here and bound to an app in create_app()."""
from __future__ import annotations

from flask import request
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect


def remote_address() -> str:
    """The client's address (ProxyFix has rewritten it when TRUSTED_PROXIES is set)."""
    return request.remote_addr or "unknown"


csrf = CSRFProtect()
login_manager = LoginManager()
limiter = Limiter(key_func=remote_address)
