"""A real SMTP server on loopback (aiosmtpd) that records what it receives and can refuse recipients."""
from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RecordingHandler:
    """Accepts mail; `refuse` maps a recipient to a reply code, `defer` counts 451 replies still to give."""

    received: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    refuse: dict[str, int] = field(default_factory=dict)
    defer: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        with self.lock:
            if address in self.refuse:
                return f"{self.refuse[address]} 5.1.1 mailbox unavailable"
            if self.defer.get(address, 0) > 0:
                self.defer[address] -= 1
                return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.received.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 Message accepted"

    def messages_to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [message for recipients, message in self.received if address in recipients]


@contextmanager
def smtp_server() -> Iterator[tuple[Controller, RecordingHandler]]:
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, handler
    finally:
        controller.stop()
