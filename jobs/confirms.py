"""Publisher confirms pipelined on one AMQP channel: one wait per batch instead of a round trip per message."""
from __future__ import annotations

from typing import Any

from amqp import spec

# A broker that has not confirmed a batch by then is treated as down; the rows stay for the relay.
CONFIRM_TIMEOUT_S = 30.0


class PipelinedConfirms:
    """Publisher confirms without a round trip per message, on one AMQP channel.

    py-amqp's confirm mode waits for each message's ack before the next publish. Here every publish
    (a task and its task-sent event alike) is numbered as the broker numbers it, and one wait per
    batch collects the acks, which the broker often sends for many messages at once.
    """

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.published = 0
        self._outstanding: set[int] = set()
        self._nacked: set[int] = set()
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        if not channel._confirm_selected:
            channel._confirm_selected = True
            channel.confirm_select()
        channel.basic_publish = self._publish  # replaces basic_publish_confirm on this channel only

    def _publish(self, *args: Any, **kwargs: Any) -> Any:
        result = self.channel._basic_publish(*args, **kwargs)
        self.published += 1
        self._outstanding.add(self.published)
        return result

    def _resolve(self, delivery_tag: int, multiple: bool) -> set[int]:
        tags = {t for t in self._outstanding if t <= delivery_tag} if multiple else {delivery_tag}
        self._outstanding -= tags
        return tags

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        self._resolve(delivery_tag, multiple)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._nacked |= self._resolve(delivery_tag, multiple)

    def wait_through(self, tag: int, timeout: float = CONFIRM_TIMEOUT_S) -> None:
        """Return once the broker has acked or nacked every publish up to `tag`."""
        while self._outstanding and min(self._outstanding) <= tag:
            self.channel.wait([spec.Basic.Ack, spec.Basic.Nack], timeout=timeout)

    def confirmed_through(self, tag: int) -> bool:
        """Every publish up to `tag` acked (none nacked, none outstanding)."""
        return not any(t <= tag for t in self._outstanding) and not any(t <= tag for t in self._nacked)
