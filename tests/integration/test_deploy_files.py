"""The Procfile and the Dockerfile work outside `make run`: a Procfile runner given only `.env`, an image's tree."""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import TEST_ENVIRONMENT, Stack
from tests.support.live_app import VENV_BIN, answers, free_port
from tests.support.processes import PROJECT_ROOT, ManagedProcess, wait_for

pytestmark = pytest.mark.integration

FLOWER_AUTH = "ops:procfile-flower-secret"


def dot_env(stack: Stack, web_port: int, flower_port: int) -> str:
    """What an operator's `.env` holds: the settings they chose, nothing `make run` derives."""
    values = {**TEST_ENVIRONMENT, "DATABASE_URL": stack.env["DATABASE_URL"], "BROKER_URL": stack.env["BROKER_URL"],
              "VAR_DIR": stack.env["VAR_DIR"], "WEB_PORT": str(web_port), "FLOWER_PORT": str(flower_port),
              "FLOWER_BASIC_AUTH": FLOWER_AUTH}
    return "".join(f'{name}="{value}"\n' if " " in value else f"{name}={value}\n" for name, value in values.items())


def http_json(url: str, *, method: str = "GET", body: dict[str, Any] | None = None,
              headers: dict[str, str] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        **({"Content-Type": "application/json"} if data else {}), **(headers or {})})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_the_procfile_runs_under_honcho_given_only_dot_env(stack: Stack, tmp_path: Path) -> None:
    web_port, flower_port = free_port(), free_port()
    env_file = tmp_path / "operator.env"
    env_file.write_text(dot_env(stack, web_port, flower_port))
    # The runner's own environment: a login shell's basics, no LOG_LEVEL, no FLOWER_DB, no broker API URL.
    runner_env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
    honcho = ManagedProcess(
        [str(VENV_BIN / "honcho"), "start", "-f", str(PROJECT_ROOT / "Procfile"), "-e", str(env_file),
         "-d", str(PROJECT_ROOT), "web", "worker-default", "relay", "flower"],
        runner_env, stack.log_dir / "honcho.log").start()
    try:
        wait_for(lambda: answers(f"http://127.0.0.1:{web_port}/healthz"), 60, what="the web line to answer")
        wait_for(lambda: answers(f"http://127.0.0.1:{flower_port}/flower/healthcheck"), 60,
                 what="Flower's line to answer")
        token = stack.account("operator").token
        job = http_json(f"http://127.0.0.1:{web_port}/api/diagnostics/sleep", method="POST",
                        body={"seconds": 0.1, "steps": 1}, headers={"Authorization": f"Bearer {token}"})
        status_url = f"http://127.0.0.1:{web_port}/api/jobs/{job['id']}"
        finished = wait_for(lambda: (state := http_json(status_url, headers={"Authorization": f"Bearer {token}"}))
                            ["state"] == "succeeded" and state, 60, what="the job to run on worker-default")
        assert finished["state"] == "succeeded"

        auth = {"Authorization": "Basic " + base64.b64encode(FLOWER_AUTH.encode()).decode()}
        # Other workers of the vhost may be listed first: wait for the Procfile's own.
        def procfile_worker_listed() -> bool:
            workers = http_json(f"http://127.0.0.1:{flower_port}/flower/api/workers?refresh=1", headers=auth)
            return any(name.startswith("default@") for name in workers)

        assert wait_for(procfile_worker_listed, 30, interval=1, what="Flower to list worker-default")
        # The password is in no process's command line (`ps` shows those to every user of the host).
        group = [p for p in psutil.process_iter(["cmdline"]) if _in_group(p, honcho.pid)]
        assert any("flower" in " ".join(p.info["cmdline"] or []) for p in group)
        assert not any("procfile-flower-secret" in " ".join(p.info["cmdline"] or []) for p in group)
        assert "requires an argument" not in honcho.log_text()
    finally:
        honcho.stop()


def _in_group(process: psutil.Process, group: int) -> bool:
    try:
        return os.getpgid(process.pid) == group
    except OSError:
        return False


def copied_paths(dockerfile: str) -> list[str]:
    """The sources of the Dockerfile's COPY lines (without --from stages or flags)."""
    sources: list[str] = []
    for line in dockerfile.splitlines():
        match = re.match(r"\s*COPY\s+(.*)$", line)
        if match:
            words = [word for word in match.group(1).split() if not word.startswith("--")]
            sources += words[:-1]
    return sources


def test_the_dockerfile_copies_every_package_the_processes_import(tmp_path: Path) -> None:
    image = tmp_path / "app"
    image.mkdir()
    for source in copied_paths((PROJECT_ROOT / "Dockerfile").read_text()):
        origin = PROJECT_ROOT / source
        if origin.is_dir():
            shutil.copytree(origin, image / source.rstrip("/"), ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, image / source)
    env = {"PATH": os.environ["PATH"], "APP_ENV": "development", "VAR_DIR": str(tmp_path / "var"),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'app.db'}", "PYTHONDONTWRITEBYTECODE": "1"}
    script = ("import webapp, tasks, invoicing, etl, accounts, jobs, config, sys; "
              "from config.settings import load_settings; from webapp import create_app; create_app(load_settings()); "
              "import tasks.worker; import config.flowerconfig; "
              "print(*sorted({m.__file__.rsplit('/', 2)[0] for m in (webapp, tasks, invoicing, etl, accounts, jobs, "
              "config)}))")
    result = subprocess.run([sys.executable, "-c", script], cwd=image, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == [str(image)]  # every package came from the image's tree
