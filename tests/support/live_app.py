"""The whole application as `make run` starts it (gunicorn, workers per queue, relay, Flower), on a test's stack."""
from __future__ import annotations

import socket
import sys
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.processes import CeleryWorker, ManagedProcess, Notifier, wait_for

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class LiveApp:
    """Processes of the Procfile bound to 127.0.0.1 on free ports; `stop()` ends every one of them."""

    env: Mapping[str, str]
    log_dir: Path
    flower_auth: str = "flower:flower-test-password"
    web_port: int = field(default_factory=free_port)
    flower_port: int = field(default_factory=free_port)
    processes: list[ManagedProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def flower_url(self) -> str:
        """Flower itself, on its own port (people reach it through the web app's /flower/)."""
        return f"http://127.0.0.1:{self.flower_port}/flower"

    def start(self) -> LiveApp:
        env = {**self.env, "WEB_HOST": "127.0.0.1", "WEB_PORT": str(self.web_port), "FLOWER_HOST": "127.0.0.1",
               "FLOWER_PORT": str(self.flower_port), "FLOWER_BASIC_AUTH": self.flower_auth}
        try:
            self._start(ManagedProcess(
                [str(VENV_BIN / "gunicorn"), "-c", "config/gunicorn.conf.py", "webapp:create_app()"],
                env, self.log_dir / "web.log"))
            for queues in ("invoices,notifications", "invoices.bulk", "etl", "diagnostics"):
                self.processes.append(CeleryWorker(env, self.log_dir, queues=queues, concurrency=1).start())
            self._start(ManagedProcess([str(VENV_BIN / "flask"), "jobs", "relay"], env, self.log_dir / "relay.log"))
            self.processes.append(Notifier(env, self.log_dir).start())
            self._start(ManagedProcess(
                [sys.executable, "-m", "celery", "-A", "tasks.worker", "flower", "--conf=config/flowerconfig.py"],
                env, self.log_dir / "flower.log"))
            wait_for(lambda: answers(self.url + "/healthz"), 60, what="gunicorn to answer")
            wait_for(lambda: answers(self.flower_url + "/healthcheck"), 60, what="Flower to answer")
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, process: ManagedProcess) -> None:
        self.processes.append(process.start())

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
