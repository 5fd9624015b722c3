"""gunicorn settings for the web process (`gunicorn -c config/gunicorn.conf.py "webapp:create_app()"`)."""
from config.settings import get_settings

_settings = get_settings()

bind = f"{_settings.web_host}:{_settings.web_port}"
workers = _settings.web_workers
# Sync workers: every request is short (the slow work is in Celery), and they keep p99 low.
worker_class = "sync"
timeout = 30
graceful_timeout = 20
keepalive = 2
accesslog = "-"
errorlog = "-"
# Each worker builds its own app, so no connection or pool crosses a fork.
preload_app = False
# No runtime control socket: nothing here manages gunicorn through it.
control_socket_disable = True
