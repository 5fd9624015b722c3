"""HTTP load on loopback: gunicorn with the production config, and wrk (installed from Debian if missing)."""
from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from config.settings import PROJECT_ROOT
from tests.support.processes import ManagedProcess, wait_for

GUNICORN_CONFIG = PROJECT_ROOT / "config" / "gunicorn.conf.py"
CONNECTIONS = 16
WRK_THREADS = 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def gunicorn_settings(env: Mapping[str, str]) -> dict[str, object]:
    """worker_class, workers and threads as config/gunicorn.conf.py resolves them for `env`."""
    code = ("import runpy, json; c = runpy.run_path('config/gunicorn.conf.py'); "
            "print(json.dumps({k: c.get(k, d) for k, d in "
            "(('worker_class', 'sync'), ('workers', 1), ('threads', 1))}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=dict(env), capture_output=True,
                         text=True, check=True, timeout=60).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


@contextmanager
def gunicorn(env: Mapping[str, str], app: str, log_dir: Path, ready_path: str = "/healthz") -> Iterator[str]:
    """`gunicorn -c config/gunicorn.conf.py <app>` on a free loopback port; yields its base URL."""
    port = free_port()
    server = ManagedProcess([sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONFIG), app],
                            {**env, "WEB_HOST": "127.0.0.1", "WEB_PORT": str(port)},
                            log_dir / f"gunicorn-{port}.log").start()
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if server.process is not None and server.process.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{server.log_text()[-3000:]}")
        try:
            with urllib.request.urlopen(base + ready_path, timeout=2):
                return True
        except OSError as exc:
            return getattr(exc, "code", None) is not None  # any HTTP answer means it is serving
    try:
        wait_for(answers, 60, interval=0.2, what="gunicorn")
        yield base
    finally:
        server.stop()


def ensure_wrk() -> str:
    """The wrk binary; installed from Debian (`apt-get install -y wrk`, as root) when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True, timeout=600)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed and apt-get could not install it")
    return found


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx_3xx: int
    socket_errors: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> WrkResult:
    requests, seconds = re.search(r"(\d+) requests in ([\d.]+)(s|m)", output).groups()[:2]  # type: ignore[union-attr]
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.M))
    non_ok = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return WrkResult(
        requests=int(requests), seconds=float(seconds),
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(percentiles["50"]), p99_ms=_ms(percentiles["99"]),
        non_2xx_3xx=int(non_ok.group(1)) if non_ok else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def run_wrk(url: str, script: Path, seconds: float, connections: int = CONNECTIONS) -> WrkResult:
    """wrk with `connections` keep-alive clients over 2 threads; latency percentiles are wrk's."""
    args = [ensure_wrk(), "-t", str(WRK_THREADS), "-c", str(connections), "-d", f"{seconds:g}s", "--latency",
            "--timeout", "10s", "-s", str(script), url]
    output = subprocess.run(args, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    return parse_wrk(output)


def lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def submit_script(path: Path, token: str, body: str) -> Path:
    path.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {lua_string(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = {lua_string("Bearer " + token)}\n')
    return path


def random_get_script(path: Path, token: str | None, prefix: str, ids_file: Path, with_etag: bool) -> Path:
    """GET `prefix<id>` for random lines of `ids_file` ("<id> <etag>"), with If-None-Match when `with_etag`."""
    auth = f'headers["Authorization"] = {lua_string("Bearer " + token)}\n' if token else ""
    etag = 'headers["If-None-Match"] = \'"\' .. etags[i] .. \'"\'\n' if with_etag else ""
    path.write_text(
        "local ids, etags = {}, {}\n"
        "local headers = {}\n"
        + auth +
        f"for line in io.lines({lua_string(str(ids_file))}) do\n"
        '  local id, tag = line:match("^(%S+) (%S+)$")\n'
        "  ids[#ids + 1] = id; etags[#etags + 1] = tag\n"
        "end\n"
        "local counter = 0\n"
        "function setup(thread) counter = counter + 1; thread:set('seed', counter) end\n"
        "function init(args) math.randomseed(os.time() * 1000 + (seed or 0)) end\n"
        "function request()\n"
        "  local i = math.random(#ids)\n"
        + etag +
        f"  return wrk.format('GET', {lua_string(prefix)} .. ids[i], headers)\n"
        "end\n")
    return path
