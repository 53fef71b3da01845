"""Publish/subscribe for WebSockets: subscribe connections to topics, publish to a topic.

Delivery frames a message once per group of subscribers that can share wire bytes and
writes the same bytes to each, batched per loop turn: a burst of publishes reaches a
subscriber in one write, not in one syscall per message. Server frames are unmasked,
so plain connections all share one frame; with permessage-deflate, connections that
agreed on ``server_no_context_takeover`` and the same window share one compressed
frame, while a connection that keeps compression context gets its own.

The hub never awaits a subscriber: a subscriber whose unsent bytes pass
``max_buffer`` has stopped reading, and is dropped so the others are not slowed down
(``WebSocket.abort`` with 1008, POLICY_VIOLATION): the close frame would wait behind
all that the peer is not reading, so it is not waited for; the server side's
``close_code`` (1006) and ``close_reason`` tell the application why the connection ended.
Where messages travel between publishers and hubs is a ``Backend``'s business: the
in-memory one delivers in-process; one over a real broker would publish there and
call ``Hub.deliver`` for what it receives, without the application changing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from tidewire.protocol.close import CloseCode
from tidewire.protocol.connection import Role
from tidewire.protocol.errors import ConnectionClosed
from tidewire.protocol.websocket import WebSocket

__all__ = ["Backend", "Hub", "MemoryBackend"]

log = logging.getLogger("tidewire.server.hub")

Deliver = Callable[[str, "str | bytes"], int]
"""A hub's ``deliver``: writes a topic's message to the local subscribers."""


class Backend(Protocol):
    """Carries published messages to every hub that watches their topic.

    The seam between a ``Hub`` and where its messages travel: ``MemoryBackend``
    delivers in the same process; one over a broker (Redis, NATS...) publishes there
    and calls the bound ``deliver`` for each message it receives on a watched topic.
    The hub calls ``bind`` once, then ``watch``/``unwatch`` as topics gain their
    first and lose their last local subscriber, and ``publish`` for ``Hub.publish``.
    """

    def bind(self, deliver: Deliver) -> None:
        """Where messages for watched topics go: the hub's ``deliver``, to call with
        ``(topic, data)`` for each message that arrives."""

    async def publish(self, topic: str, data: str | bytes) -> None:
        """Send ``data`` (text or binary) to every hub watching ``topic``, this one
        included; what it raises reaches ``Hub.publish``'s caller."""

    async def watch(self, topic: str) -> None:
        """The hub has its first local subscriber to ``topic``: start receiving it."""

    async def unwatch(self, topic: str) -> None:
        """The hub's last local subscriber to ``topic`` left: stop receiving it."""


class MemoryBackend:
    """The ``Backend`` of one process: publishing is delivering, to the one hub bound
    to it. The default of ``Hub()``."""

    __slots__ = ("_deliver",)

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    def bind(self, deliver: Deliver) -> None:
        """Deliver published messages with ``deliver`` (the hub's)."""
        self._deliver = deliver

    async def publish(self, topic: str, data: str | bytes) -> None:
        """Deliver ``data`` to the bound hub's subscribers of ``topic`` at once."""
        if self._deliver is not None:
            self._deliver(topic, data)

    async def watch(self, topic: str) -> None:
        """Nothing to do: every topic is delivered in-process."""
        return None

    async def unwatch(self, topic: str) -> None:
        """Nothing to do: every topic is delivered in-process."""
        return None


def _share_key(ws: WebSocket) -> object:
    """Subscribers with equal keys can be sent the very same frame bytes."""
    conn = ws.connection
    if conn.role is Role.CLIENT:  # client frames are masked afresh every time
        return ws
    params = conn.deflate
    if params is None:
        return None
    if params.server_no_context_takeover:
        return params.server_max_window_bits
    return ws  # its compressor's history is its own


_TOO_SLOW = "too slow: stopped reading the messages"


class Hub:
    """Topics of subscribed WebSockets: ``publish`` sends a message to every
    subscriber of a topic, framed once per group of connections that can share it.

    ``backend`` carries published messages between hubs (default: a
    ``MemoryBackend``, this process only). A subscriber with more than
    ``max_buffer`` bytes unsent has stopped reading: it is dropped (closed with
    1008 without waiting, see ``WebSocket.abort``) so the others are not held
    up, and counted in ``dropped``. See the module docstring for the framing.
    """

    __slots__ = ("_backend", "_topics", "dropped", "max_buffer")

    def __init__(self, backend: Backend | None = None, *, max_buffer: int = 1024 * 1024) -> None:
        self._backend: Backend = backend if backend is not None else MemoryBackend()
        self._backend.bind(self.deliver)
        self._topics: dict[str, dict[WebSocket, object]] = {}
        self.max_buffer = max_buffer
        self.dropped = 0  # slow subscribers disconnected so far

    def subscribers(self, topic: str) -> list[WebSocket]:
        """The WebSockets subscribed to ``topic`` in this hub (a copy)."""
        return list(self._topics.get(topic, ()))

    async def subscribe(self, topic: str, ws: WebSocket) -> None:
        """Subscribe ``ws`` to ``topic`` (again: no change); the topic's first local
        subscriber makes the backend watch it. Unsubscribe when the WebSocket ends:
        a closed one is only dropped at the next delivery."""
        members = self._topics.get(topic)
        if members is None:
            members = self._topics[topic] = {}
            await self._backend.watch(topic)
        members[ws] = _share_key(ws)

    async def unsubscribe(self, topic: str, ws: WebSocket) -> None:
        """Stop sending ``topic`` to ``ws`` (nothing happens if it is not subscribed);
        the topic's last local subscriber leaving makes the backend unwatch it."""
        members = self._topics.get(topic)
        if members is None:
            return
        members.pop(ws, None)  # gone already if delivery dropped it
        if not members:
            del self._topics[topic]
            await self._backend.unwatch(topic)

    async def publish(self, topic: str, data: str | bytes) -> None:
        """Send ``data`` (a ``str`` as text, ``bytes`` as binary) to every subscriber
        of ``topic``, in every hub on the backend. Never waits for a subscriber: one
        too slow is dropped. Raises what the backend's ``publish`` raises."""
        await self._backend.publish(topic, data)

    def deliver(self, topic: str, data: str | bytes) -> int:
        """Write ``data`` to this hub's subscribers of ``topic``, without waiting, and
        return the number of frames it built (one per group that shares bytes). The
        backend calls it; a closed subscriber is removed, a slow one dropped."""
        members = self._topics.get(topic)
        if not members:
            return 0
        frames: dict[object, bytes] = {}
        slow: list[WebSocket] = []
        for ws, key in members.items():
            if ws.closed:
                slow.append(ws)
                continue
            if ws.write_buffer_size > self.max_buffer:
                log.info("dropping a subscriber of %r that stopped reading", topic)
                ws.abort(CloseCode.POLICY_VIOLATION, _TOO_SLOW)
                self.dropped += 1
                slow.append(ws)
                continue
            try:
                frame = frames.get(key)
                if frame is None:
                    conn = ws.connection
                    frame = (
                        conn.send_text(data) if isinstance(data, str) else conn.send_binary(data)
                    )
                    frames[key] = frame
                ws.write_frame(frame, batch=True)
            except ConnectionClosed:
                slow.append(ws)
        for ws in slow:  # the topic stays watched until unsubscribe empties it
            del members[ws]
        return len(frames)
