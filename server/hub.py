"""Publish/subscribe for WebSockets: subscribe connections to topics, publish to a topic,
and know who is present in a topic across every process.

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
in-memory one delivers in-process; ``RedisBackend`` (``tidewire.server.hub_redis``)
publishes through Redis and calls ``Hub.deliver`` for what it receives, without the
application changing: ``await hub.start()`` on startup and ``await hub.close()`` on
cleanup are the same two lines for both.

Presence is who is subscribed to a topic under a name (``subscribe(..., presence=nick)``),
across processes: ``await hub.presence(topic)`` reads it, and ``on_presence`` is told of
each change, once in every process that has subscribers to the topic, so each process
tells its own subscribers (``hub.deliver``) and nobody hears of a change twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import NamedTuple, Protocol

from tidewire.protocol.close import CloseCode
from tidewire.protocol.connection import Role
from tidewire.protocol.errors import ConnectionClosed
from tidewire.protocol.websocket import WebSocket

__all__ = [
    "Backend",
    "BackendUnavailable",
    "Hub",
    "MemoryBackend",
    "PresenceChange",
]

log = logging.getLogger("tidewire.server.hub")

Deliver = Callable[[str, "str | bytes"], int]
"""A hub's ``deliver``: writes a topic's message to the local subscribers."""

PresenceChanged = Callable[[str], None]
"""A hub's ``presence_changed``: a topic's presence may have changed, read it again."""


class BackendUnavailable(ConnectionError):
    """The backend cannot carry messages now (Redis is down or not reached yet).

    Raised by ``Hub.publish``, ``Hub.subscribe`` and ``Hub.presence`` instead of
    losing a message without a word: the caller decides whether to tell its user,
    retry or drop. A ``ConnectionError``, so code that already handles those catches it.
    """


class PresenceChange(NamedTuple):
    """Who joined and left ``topic``, and who is there now, as one process saw it.

    Names are sorted; a name counts once however many subscribers (tabs, processes)
    carry it, so ``joined`` means its first subscriber arrived and ``left`` that its
    last one went (unsubscribed, dropped, or its process stopped renewing it)."""

    topic: str
    online: tuple[str, ...]
    joined: tuple[str, ...]
    left: tuple[str, ...]


OnPresence = Callable[[PresenceChange], Awaitable[None]]


class Backend(Protocol):
    """Carries published messages and presence to every hub that watches a topic.

    The seam between a ``Hub`` and where its messages travel: ``MemoryBackend``
    delivers in the same process; one over a broker (``RedisBackend``) publishes there
    and calls the bound ``deliver`` for each message it receives on a watched topic.
    The hub calls ``bind`` once, ``start``/``close`` with ``Hub.start``/``Hub.close``,
    ``watch``/``unwatch`` as topics gain their first and lose their last local
    subscriber, ``publish`` for ``Hub.publish``, and ``set_presence`` with the names
    its subscribers of a topic carry.
    """

    @property
    def connected(self) -> bool:
        """Whether messages flow now; while False, ``publish`` and ``watch`` raise
        ``BackendUnavailable``."""

    def bind(self, deliver: Deliver, presence_changed: PresenceChanged) -> None:
        """Where messages for watched topics go: the hub's ``deliver``, to call with
        ``(topic, data)`` for each message that arrives; and ``presence_changed``, to call
        with a watched topic whose presence may have changed (another process said so,
        or an entry expired)."""

    async def start(self) -> None:
        """Connect; raises (``BackendUnavailable``) when the broker cannot be reached,
        so a misconfigured server fails at startup, not at its first publish."""

    async def close(self) -> None:
        """Withdraw this process's presence and disconnect."""

    async def publish(self, topic: str, data: str | bytes) -> None:
        """Send ``data`` (text or binary) to every hub watching ``topic``, this one
        included; what it raises reaches ``Hub.publish``'s caller."""

    async def watch(self, topic: str) -> None:
        """The hub has its first local subscriber to ``topic``: start receiving it."""

    async def unwatch(self, topic: str) -> None:
        """The hub's last local subscriber to ``topic`` left: stop receiving it."""

    async def set_presence(self, topic: str, names: frozenset[str]) -> None:
        """The names this process's subscribers of ``topic`` carry now (replacing what
        it said before); the backend keeps them visible to every process, and tells
        the hubs watching ``topic`` that its presence changed."""

    async def presence(self, topic: str) -> frozenset[str]:
        """The names present in ``topic``, over every process."""


class MemoryBackend:
    """The ``Backend`` of one process: publishing is delivering, to the one hub bound
    to it, and presence is what that hub's subscribers say. The default of ``Hub()``."""

    __slots__ = ("_changed", "_deliver", "_present")

    def __init__(self) -> None:
        self._deliver: Deliver | None = None
        self._changed: PresenceChanged | None = None
        self._present: dict[str, frozenset[str]] = {}

    @property
    def connected(self) -> bool:
        """Always True: there is nothing to lose a connection to."""
        return True

    def bind(self, deliver: Deliver, presence_changed: PresenceChanged) -> None:
        """Deliver published messages with ``deliver`` (the hub's)."""
        self._deliver = deliver
        self._changed = presence_changed

    async def start(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Forget the presence the hub set."""
        self._present.clear()

    async def publish(self, topic: str, data: str | bytes) -> None:
        """Deliver ``data`` to the bound hub's subscribers of ``topic`` at once."""
        if self._deliver is not None:
            self._deliver(topic, data)

    async def watch(self, topic: str) -> None:
        """Nothing to do: every topic is delivered in-process."""

    async def unwatch(self, topic: str) -> None:
        """Nothing to do: every topic is delivered in-process."""

    async def set_presence(self, topic: str, names: frozenset[str]) -> None:
        """Keep ``names`` as the topic's presence (the hub reads it back at once)."""
        if names:
            self._present[topic] = names
        else:
            self._present.pop(topic, None)

    async def presence(self, topic: str) -> frozenset[str]:
        """The names the hub's subscribers of ``topic`` carry."""
        return self._present.get(topic, frozenset())


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


def _sorted(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(names, key=lambda name: (name.casefold(), name)))


_TOO_SLOW = "too slow: stopped reading the messages"


class Hub:
    """Topics of subscribed WebSockets: ``publish`` sends a message to every
    subscriber of a topic, framed once per group of connections that can share it.

    ``backend`` carries published messages between hubs (default: a
    ``MemoryBackend``, this process only). A subscriber with more than
    ``max_buffer`` bytes unsent has stopped reading: it is dropped (closed with
    1008 without waiting, see ``WebSocket.abort``) so the others are not held
    up, and counted in ``dropped``; ``delivered`` counts the messages written to
    subscribers. ``on_presence`` is awaited with a
    ``PresenceChange`` whenever the names present in a topic that has subscribers
    here change. See the module docstring for the framing.
    """

    __slots__ = (
        "_backend",
        "_known",
        "_lock",
        "_names",
        "_settling",
        "_told",
        "_topics",
        "_watched",
        "delivered",
        "dropped",
        "max_buffer",
        "on_presence",
    )

    def __init__(
        self,
        backend: Backend | None = None,
        *,
        max_buffer: int = 1024 * 1024,
        on_presence: OnPresence | None = None,
    ) -> None:
        self._backend: Backend = backend if backend is not None else MemoryBackend()
        self._backend.bind(self.deliver, self.presence_changed)
        self._topics: dict[str, dict[WebSocket, object]] = {}
        self._names: dict[str, dict[WebSocket, str]] = {}  # subscribers that carry a name
        self._watched: set[str] = set()  # topics the backend watches for us
        self._told: dict[str, frozenset[str]] = {}  # the names we gave set_presence
        self._known: dict[str, frozenset[str]] = {}  # presence last reported to on_presence
        self._lock = asyncio.Lock()  # one reconciliation with the backend at a time
        self._settling: set[asyncio.Task[None]] = set()
        self.max_buffer = max_buffer
        self.dropped = 0  # slow subscribers disconnected so far
        self.delivered = 0  # messages written to a subscriber so far (for metrics)
        self.on_presence = on_presence

    @property
    def backend(self) -> Backend:
        """The backend messages travel through (to read ``connected``, say)."""
        return self._backend

    async def start(self) -> None:
        """Connect the backend (nothing to do in memory); call it on startup, so a
        broker that cannot be reached fails the server's start."""
        await self._backend.start()

    async def close(self) -> None:
        """Withdraw this process's presence and disconnect the backend; call it on
        cleanup, once the WebSockets are closed."""
        for task in list(self._settling):
            task.cancel()
        await asyncio.gather(*self._settling, return_exceptions=True)
        await self._backend.close()
        self._watched.clear()
        self._told.clear()
        self._known.clear()

    def subscribers(self, topic: str) -> list[WebSocket]:
        """The WebSockets subscribed to ``topic`` in this hub (a copy)."""
        return list(self._topics.get(topic, ()))

    async def subscribe(self, topic: str, ws: WebSocket, *, presence: str | None = None) -> None:
        """Subscribe ``ws`` to ``topic`` (again: its name may change), present under the
        name ``presence`` when given. The topic's first local subscriber makes the
        backend watch it. Raises ``BackendUnavailable`` (and does not subscribe) while
        the backend is down. Unsubscribe when the WebSocket ends (a closed one is
        only dropped at the next delivery)."""
        if not self._backend.connected:
            raise BackendUnavailable(f"cannot subscribe to {topic!r}: the backend is down")
        self._topics.setdefault(topic, {})[ws] = _share_key(ws)
        names = self._names.setdefault(topic, {})
        if presence is None:
            names.pop(ws, None)
        else:
            names[ws] = presence
        try:
            await self._settle(topic)
        except BaseException:
            self._forget(topic, ws)
            raise

    async def unsubscribe(self, topic: str, ws: WebSocket) -> None:
        """Stop sending ``topic`` to ``ws`` (nothing happens if it is not subscribed);
        its name leaves the topic's presence if no other subscriber carries it, and the
        topic's last local subscriber leaving makes the backend unwatch it."""
        if self._forget(topic, ws):
            await self._settle(topic)

    async def publish(self, topic: str, data: str | bytes) -> None:
        """Send ``data`` (a ``str`` as text, ``bytes`` as binary) to every subscriber
        of ``topic``, in every hub on the backend. Never waits for a subscriber: one
        too slow is dropped. Raises what the backend's ``publish`` raises
        (``BackendUnavailable`` while it is down)."""
        await self._backend.publish(topic, data)

    async def presence(self, topic: str) -> tuple[str, ...]:
        """The names present in ``topic`` over every process, sorted."""
        return _sorted(await self._backend.presence(topic))

    def deliver(self, topic: str, data: str | bytes) -> int:
        """Write ``data`` to this hub's subscribers of ``topic``, without waiting, and
        return the number of frames it built (one per group that shares bytes). The
        backend calls it; a closed subscriber is removed, a slow one dropped."""
        members = self._topics.get(topic)
        if not members:
            return 0
        frames: dict[object, bytes] = {}
        gone: list[WebSocket] = []
        for ws, key in members.items():
            if ws.closed:
                gone.append(ws)
                continue
            if ws.write_buffer_size > self.max_buffer:
                log.info("dropping a subscriber of %r that stopped reading", topic)
                ws.abort(CloseCode.POLICY_VIOLATION, _TOO_SLOW)
                self.dropped += 1
                gone.append(ws)
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
                if ws.stats is not None:
                    ws.stats.sent(data)
            except ConnectionClosed:
                gone.append(ws)
        self.delivered += len(members) - len(gone)
        if gone:
            for ws in gone:
                self._forget(topic, ws)
            self._settle_later(topic)  # their names leave, the topic may be unwatched
        return len(frames)

    def presence_changed(self, topic: str) -> None:
        """The backend's word that ``topic``'s presence may have changed: read it again
        and tell ``on_presence`` what differs."""
        if self.on_presence is not None and topic in self._watched:
            self._settle_later(topic)

    def _forget(self, topic: str, ws: WebSocket) -> bool:
        """Take ``ws`` out of ``topic`` here; the backend is brought in line later."""
        members = self._topics.get(topic)
        if members is None or ws not in members:  # its share key may be None: not a sentinel
            return False
        del members[ws]
        if not members:
            del self._topics[topic]
        names = self._names.get(topic)
        if names is not None:
            names.pop(ws, None)
            if not names:
                del self._names[topic]
        return True

    def _settle_later(self, topic: str) -> None:
        task = asyncio.ensure_future(self._settle_logged(topic))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _settle_logged(self, topic: str) -> None:
        try:
            await self._settle(topic)
        except BackendUnavailable as exc:
            log.debug("presence of %r not updated: %s", topic, exc)  # done on reconnect
        except Exception:
            log.exception("bringing the backend in line with topic %r failed", topic)

    async def _settle(self, topic: str) -> None:
        """Bring the backend in line with this hub's subscribers of ``topic`` (watched
        while it has any, its names as presence), then report any presence change.

        One at a time, and from the state as it is when it runs: a subscribe racing
        an unsubscribe ends with the backend where the subscribers are."""
        async with self._lock:
            backend = self._backend
            wanted = topic in self._topics
            if wanted and topic not in self._watched:
                await backend.watch(topic)
                self._watched.add(topic)
                if self.on_presence is not None:  # who was here before us
                    self._known[topic] = await backend.presence(topic)
            names = frozenset(self._names.get(topic, {}).values())
            if names != self._told.get(topic, frozenset()):
                await backend.set_presence(topic, names)
                if names:
                    self._told[topic] = names
                else:
                    self._told.pop(topic, None)
            if not wanted:
                if topic in self._watched:
                    self._watched.discard(topic)
                    self._known.pop(topic, None)
                    await backend.unwatch(topic)
                return
            if self.on_presence is None:
                return
            online = await backend.presence(topic)
            before = self._known.get(topic, frozenset())
            if online == before:
                return
            self._known[topic] = online
            change = PresenceChange(
                topic, _sorted(online), _sorted(online - before), _sorted(before - online)
            )
        try:  # the application's callback: its failure is not the subscriber's
            await self.on_presence(change)
        except Exception:
            log.exception("on_presence failed for %r", topic)
