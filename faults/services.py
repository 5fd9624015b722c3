"""The suite's own services, beside (never touching) the machine's shared ones.

A RabbitMQ node with its own name, ports and directories; a PostgreSQL instance initdb'd into a
temporary directory on a free loopback port; a tmpfs for the invoice PDFs; an SMTP sink whose
answers a scenario can change. Each has start/stop methods and is removed by `ServiceSet.close`.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
from aiosmtpd.controller import Controller

from tests.support.live_app import free_port
from tests.support.processes import wait_for
from tests.support.smtp import RecordingHandler

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
RABBIT_HOME = "/var/lib/rabbitmq"  # the rabbitmq user's home: its Erlang cookie is shared by every local node
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def run_as(user: str, args: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 120,
           check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `args` as `user` (runuser), with `env` added to a minimal environment."""
    prefix = ["runuser", "-u", user, "--", "env", *(f"{k}={v}" for k, v in (env or {}).items())]
    return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=timeout, check=check)


@dataclass
class RabbitNode:
    """One RabbitMQ node `name@localhost` on its own AMQP, management and distribution ports.

    Several can be made with different names (`rabbit_nodes`); clustering them is left to the caller.
    """

    name: str
    base: Path
    amqp_port: int = field(default_factory=free_port)
    management_port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    plugins: tuple[str, ...] = ()

    @property
    def nodename(self) -> str:
        return f"{self.name}@localhost"

    @property
    def broker_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}//"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}"

    def _environment(self) -> dict[str, str]:
        return {
            "HOME": RABBIT_HOME, "RABBITMQ_NODENAME": self.nodename, "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"), "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_PID_FILE": str(self.base / "node.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
        }

    def start(self, timeout: float = 120) -> RabbitNode:
        for sub in ("mnesia", "log"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        lines = [f"listeners.tcp.1 = 127.0.0.1:{self.amqp_port}", "loopback_users.guest = true",
                 f"management.tcp.port = {self.management_port}", "management.tcp.ip = 127.0.0.1"]
        (self.base / "rabbitmq.conf").write_text("\n".join(lines) + "\n")
        (self.base / "rabbitmq-env.conf").write_text(
            "ERL_EPMD_ADDRESS=127.0.0.1\nexport ERL_FLAGS=\"-kernel inet_dist_use_interface {127,0,0,1}\"\n")
        (self.base / "enabled_plugins").write_text(f"[{','.join(self.plugins)}].\n")
        shutil.chown(self.base, "rabbitmq", "rabbitmq")
        for path in self.base.rglob("*"):
            shutil.chown(path, "rabbitmq", "rabbitmq")
        run_as("rabbitmq", [str(RABBIT_BIN / "rabbitmq-server"), "-detached"], env=self._environment())
        self.ctl("wait", "--timeout", str(int(timeout)), str(self.base / "node.pid"), timeout=timeout + 10)
        self.ctl("await_startup", timeout=timeout)
        return self

    def ctl(self, *args: str, timeout: float = 60, check: bool = True) -> str:
        """`rabbitmqctl -n <this node> …`; returns its standard output."""
        done = run_as("rabbitmq", [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.nodename, *args],
                      env={"HOME": RABBIT_HOME}, timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def queues(self) -> dict[str, tuple[int, int]]:
        """Every queue of the default vhost: name -> (messages ready, messages unacknowledged)."""
        out = self.ctl("list_queues", "-q", "--no-table-headers", "name", "messages_ready", "messages_unacknowledged")
        found: dict[str, tuple[int, int]] = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                found[parts[0]] = (int(parts[1]), int(parts[2]))
        return found

    def stop(self) -> None:
        self.ctl("stop", timeout=120, check=False)
        pid_file = self.base / "node.pid"
        pid = pid_file.read_text().strip() if pid_file.exists() else ""
        # A node that did not stop on request is killed, once its command line shows it is this node.
        if pid.isdigit() and psutil.pid_exists(int(pid)):
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(int(pid))
                if self.nodename in " ".join(process.cmdline()):
                    process.kill()


def rabbit_nodes(base: Path, count: int = 1, prefix: str = "faults") -> list[RabbitNode]:
    """`count` unstarted nodes with distinct names, ports and directories under `base`."""
    tag = os.urandom(3).hex()
    return [RabbitNode(f"{prefix}{i}-{tag}", base / f"rabbit{i}") for i in range(count)]


@dataclass
class PostgresInstance:
    """A PostgreSQL cluster of its own: initdb in `base` as the postgres user, trust auth, loopback only."""

    base: Path
    port: int = field(default_factory=free_port)

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *args: str, timeout: float = 120) -> None:
        run_as("postgres", [str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), *args], timeout=timeout)

    def start(self) -> PostgresInstance:
        self.base.mkdir(parents=True, exist_ok=True)
        (self.base / "socket").mkdir(exist_ok=True)
        shutil.chown(self.base, "postgres", "postgres")
        shutil.chown(self.base / "socket", "postgres", "postgres")
        if not self.data_dir.exists():
            run_as("postgres", [str(PG_BIN / "initdb"), "-D", str(self.data_dir), "-A", "trust", "-U", "postgres",
                                "-E", "UTF8", "--no-sync"])
        self.pg_start()
        return self

    def pg_start(self) -> None:
        options = (f"-p {self.port} -k {self.base / 'socket'} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c max_connections=200 -c shared_buffers=64MB")
        self._pg_ctl("-l", str(self.base / "server.log"), "-o", options, "-w", "start")

    def restart(self) -> None:
        """pg_ctl restart -m fast (the server's output goes to its log, not to the pipe pg_ctl was given)."""
        self._pg_ctl("-l", str(self.base / "server.log"), "-m", "fast", "-w", "restart")

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._pg_ctl("-m", "immediate", "-w", "stop")

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.dsn(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def allow_connections(self, database: str, allowed: bool) -> None:
        """Make `database` refuse (or accept again) every new connection; refusing also ends the open ones."""
        with psycopg.connect(self.dsn(), autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {"true" if allowed else "false"}')
            if not allowed:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,))


class FaultySmtpHandler(RecordingHandler):
    """The tests' recording SMTP handler, with a mode a scenario sets: normal, 4xx or 5xx to every recipient."""

    mode: str = "normal"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.mode == "4xx":
            return "451 4.3.0 try again later"
        if self.mode == "5xx":
            return "550 5.1.1 mailbox unavailable"
        return await super().handle_RCPT(server, session, envelope, address, options)


@dataclass
class SmtpSink:
    """The SMTP server on a fixed loopback port, which a scenario can stop and start again."""

    handler: FaultySmtpHandler = field(default_factory=FaultySmtpHandler)
    port: int = field(default_factory=free_port)
    controller: Controller | None = None

    def start(self) -> SmtpSink:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@dataclass
class Tmpfs:
    """A small tmpfs mounted at `path` (the invoice directory); `fill` uses up its space, `unfill` frees it."""

    path: Path
    size_mb: int = 1024  # room for every PDF of a full run (~60 KB each); filling it takes a moment
    mounted: bool = False

    def mount(self) -> Tmpfs:
        self.path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m,mode=0755", "tmpfs", str(self.path)],
                       check=True, capture_output=True, timeout=30)
        self.mounted = True
        return self

    @property
    def filler(self) -> Path:
        return self.path / ".filler"

    def fill(self) -> None:
        """Take every free byte: one fallocate of what statvfs says is free, then unbuffered writes until ENOSPC."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with contextlib.suppress(OSError):
                os.posix_fallocate(fd, 0, shutil.disk_usage(self.path).free)
            os.lseek(fd, 0, os.SEEK_END)
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * 4096):
                    pass
        finally:
            os.close(fd)

    def unfill(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], check=False, capture_output=True, timeout=30)
            self.mounted = False


def wait_until_accepting(dsn: str, timeout: float = 60) -> None:
    """Until PostgreSQL at `dsn` takes a connection."""
    def accepts() -> bool:
        try:
            with psycopg.connect(dsn, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False
    wait_for(accepts, timeout, interval=0.3, what="PostgreSQL to accept connections")


def scratch_dir() -> Path:
    """A fresh directory every service user can enter (its subdirectories are chowned per service)."""
    path = Path(tempfile.mkdtemp(prefix="faults-"))
    path.chmod(0o755)
    return path


def settle(seconds: float) -> None:
    time.sleep(seconds)
