"""gunicorn settings for the web process (`gunicorn -c config/gunicorn.conf.py "webapp:create_app()"`)."""
from config.settings import get_settings
from jobs.metrics import mark_process_dead, own_metrics_dir

_settings = get_settings()

bind = f"{_settings.web_host}:{_settings.web_port}"
workers = _settings.web_workers
# Threaded workers: requests are short (the slow work is in Celery), but a live job page keeps an
# event stream open for up to SSE_MAX_S; threads keep those from blocking everyone else.
worker_class = "gthread"
threads = _settings.web_threads
timeout = 30
graceful_timeout = 20
keepalive = 2
accesslog = "-"
errorlog = "-"
# Each worker builds its own app, so no connection or pool crosses a fork.
preload_app = False
# No runtime control socket: nothing here manages gunicorn through it.
control_socket_disable = True


def on_starting(server: object) -> None:
    """Prometheus multiprocess files of this server's workers: var/prometheus/web-<port>, fresh at every start."""
    own_metrics_dir(_settings.var_dir, f"web-{_settings.web_port}")


def child_exit(server: object, worker: object) -> None:
    mark_process_dead(worker.pid)  # type: ignore[attr-defined]


def worker_exit(server: object, worker: object) -> None:
    """A stopping worker first publishes what its requests handed to the fast path (else the relay would,
    RELAY_GRACE_S later, and without a relay running those jobs would wait)."""
    app = getattr(worker, "wsgi", None)
    web_runtime = getattr(app, "extensions", {}).get("jobs")
    if web_runtime is not None:
        web_runtime.fast_path.close()
