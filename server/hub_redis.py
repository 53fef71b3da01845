"""``RedisBackend``: a ``Hub`` whose topics and presence span every process on one Redis.

    hub = Hub(RedisBackend("redis://127.0.0.1:6379/0", prefix="tidewire:"))
    app.on_startup.append(lambda app: hub.start())
    app.on_cleanup.append(lambda app: hub.close())

What travels, and how:

- A published message goes to the Redis channel ``prefix + topic`` as one byte of kind
  (text, binary, or a presence nudge) and the payload, so text stays text and binary
  stays binary, byte for byte. Each process holds one subscriber connection, SUBSCRIBEd
  to a topic while the process has a local member of it; what arrives is handed to
  ``Hub.deliver``, which frames it once for all the local members. The publisher's own
  process hears its message through Redis like the others, so every member receives
  it exactly once, and messages from one publisher arrive in the order published.
- Presence lives in one sorted set per topic (``prefix + "presence:" + topic``), an
  entry per process and name whose score is its expiry on Redis' clock. Each process
  renews its entries every ``presence_ttl / 4`` seconds and reads the topics it
  watches as often, dropping expired entries: the names of a process that died
  without a word (SIGKILL, a lost machine) leave within ``presence_ttl`` plus one
  period (12.5 s by default), and every other process reports them gone. Keyspace
  notifications, off by default in Redis, are not needed.

Faults: ``Hub.start()`` fails with ``BackendUnavailable`` when Redis cannot be reached.
When the subscriber connection is lost the backend logs it, retries with a backoff
doubling up to ``max_backoff`` seconds, resubscribes every watched topic and renews
its presence, logging each change of state; ``connected`` says where it is. Meanwhile
``publish`` and ``subscribe`` raise ``BackendUnavailable``: the publisher knows its
message went nowhere. What Redis pub/sub cannot give: messages published by other
processes while this one was cut off are not replayed to its members. Keep what must
survive that (a chat's history) somewhere that can be read back, a Redis Stream say.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import TYPE_CHECKING, Any

from tidewire.server.hub import BackendUnavailable, Deliver, PresenceChanged

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub
    from redis.commands.core import AsyncScript

__all__ = ["RedisBackend"]

log = logging.getLogger("tidewire.server.hub")

_TEXT, _BINARY, _NUDGE = b"t", b"b", b"p"

# Presence entries score their expiry in ms on Redis' own clock, so processes on
# machines whose clocks disagree still agree on what has expired.
_RENEW = """
local t = redis.call('TIME')
local expiry = t[1] * 1000 + math.floor(t[2] / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], expiry, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[1]))
return #ARGV - 1
"""
_READ = """
local t = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t[1] * 1000 + math.floor(t[2] / 1000))
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""


def _redis_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import RedisError  # noqa: PLC0415

    return (RedisError, OSError)


async def _close_quietly(pubsub: PubSub) -> None:
    """Close a subscriber connection that may be broken already."""
    with contextlib.suppress(*_redis_errors()):
        await pubsub.aclose()  # type: ignore[no-untyped-call]


class RedisBackend:
    """The ``Backend`` that carries a ``Hub``'s messages and presence through Redis.

    ``url`` is a redis-py URL (``redis://host:port/db``, ``rediss://`` for TLS,
    ``unix:///path``); every channel and key it uses starts with ``prefix``, so several
    applications can share one Redis. ``presence_ttl`` is how long a process's presence
    outlives its last renewal; ``max_backoff`` caps the wait between reconnection
    attempts. Needs the ``redis`` package (``pip install 'tidewire[redis]'``): without
    it, constructing one raises ``ImportError`` saying so. The module docstring tells
    what is guaranteed and what is not.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "tidewire:",
        presence_ttl: float = 10.0,
        max_backoff: float = 5.0,
    ) -> None:
        try:
            import redis.asyncio  # noqa: F401, PLC0415
        except ImportError as exc:
            raise ImportError(
                "RedisBackend needs the redis package: pip install 'tidewire[redis]'"
            ) from exc
        if presence_ttl <= 0:
            raise ValueError(f"presence_ttl must be positive, not {presence_ttl!r}")
        self.url = url
        self.prefix = prefix
        self.presence_ttl = presence_ttl
        self.max_backoff = max_backoff
        self.process_id = uuid.uuid4().hex  # this process's presence entries carry it
        self._deliver: Deliver | None = None
        self._changed: PresenceChanged | None = None
        self._redis: Redis | None = None
        self._pubsub: PubSub | None = None
        self._connected = False
        self._topics: dict[bytes, str] = {}  # watched channel -> topic
        self._present: dict[str, frozenset[str]] = {}  # our names per topic
        self._tasks: list[asyncio.Task[None]] = []
        self._renew: AsyncScript | None = None
        self._read: AsyncScript | None = None

    @property
    def connected(self) -> bool:
        """Whether the subscriber connection is up: messages flow and ``publish`` works."""
        return self._connected

    def bind(self, deliver: Deliver, presence_changed: PresenceChanged) -> None:
        """Hand what arrives on watched topics to ``deliver`` (the hub's), and presence
        news to ``presence_changed``."""
        self._deliver = deliver
        self._changed = presence_changed

    def _channel(self, topic: str) -> bytes:
        return (self.prefix + topic).encode()

    def _key(self, topic: str) -> str:
        return f"{self.prefix}presence:{topic}"

    async def start(self) -> None:
        """Connect and subscribe; ``BackendUnavailable`` when Redis cannot be reached,
        ``RuntimeError`` when started twice."""
        from redis.asyncio import Redis  # noqa: PLC0415
        from redis.asyncio.retry import Retry  # noqa: PLC0415
        from redis.backoff import NoBackoff  # noqa: PLC0415

        if self._redis is not None:
            raise RuntimeError("RedisBackend.start() was called already")
        # One immediate retry inside redis-py: a pooled connection that died with a
        # restarted Redis is replaced once, rather than failing the first publish after
        # it; a Redis that is down still fails at once, and this backend decides how to
        # come back (reconnect, resubscribe, renew). TCP keepalive notices a Redis that
        # vanished without closing the connection.
        self._redis = Redis.from_url(
            self.url, retry=Retry(NoBackoff(), 1), socket_connect_timeout=5.0, socket_keepalive=True
        )
        self._renew = self._redis.register_script(_RENEW)
        self._read = self._redis.register_script(_READ)
        try:
            self._pubsub = await self._subscribed()
        except _redis_errors() as exc:
            await self._redis.aclose()
            self._redis = None
            raise BackendUnavailable(f"cannot reach Redis at {self.url}: {exc}") from exc
        self._connected = True
        log.info("connected to Redis at %s", self.url)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen()), loop.create_task(self._maintain())]

    async def _subscribed(self) -> PubSub:
        """A new subscriber connection, on this process's own channel (so that a lost
        connection shows even with no topic watched) and every watched topic."""
        assert self._redis is not None
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(self._channel(f"process:{self.process_id}"), *self._topics)
        except BaseException:
            await _close_quietly(pubsub)
            raise
        return pubsub

    async def close(self) -> None:
        """Withdraw this process's presence (when Redis is reachable) and disconnect."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._redis is None:
            return
        if self._connected:
            for topic in list(self._present):
                with contextlib.suppress(*_redis_errors()):
                    await self.set_presence(topic, frozenset())
        self._connected = False
        if self._pubsub is not None:
            await _close_quietly(self._pubsub)
            self._pubsub = None
        await self._redis.aclose()
        self._redis = None
        self._topics.clear()
        self._present.clear()

    def _client(self) -> Redis:
        if self._redis is None or not self._connected:
            raise BackendUnavailable(f"Redis at {self.url} is not connected")
        return self._redis

    async def publish(self, topic: str, data: str | bytes) -> None:
        """PUBLISH ``data`` on the topic's channel; ``BackendUnavailable`` while Redis is
        down (the message went nowhere)."""
        payload = _TEXT + data.encode() if isinstance(data, str) else _BINARY + data
        client = self._client()
        try:
            await client.publish(self._channel(topic), payload)
        except _redis_errors() as exc:
            raise BackendUnavailable(f"Redis at {self.url}: {exc}") from exc

    async def watch(self, topic: str) -> None:
        """SUBSCRIBE to the topic's channel; ``BackendUnavailable`` while Redis is down."""
        channel = self._channel(topic)
        self._client()
        assert self._pubsub is not None
        self._topics[channel] = topic
        try:
            await self._pubsub.subscribe(channel)
        except _redis_errors() as exc:
            del self._topics[channel]
            raise BackendUnavailable(f"Redis at {self.url}: {exc}") from exc

    async def unwatch(self, topic: str) -> None:
        """UNSUBSCRIBE from the topic's channel (while Redis is down, it is simply not
        subscribed again on reconnection)."""
        channel = self._channel(topic)
        if self._topics.pop(channel, None) is None:
            return
        if self._connected and self._pubsub is not None:
            with contextlib.suppress(*_redis_errors()):
                await self._pubsub.unsubscribe(channel)

    async def set_presence(self, topic: str, names: frozenset[str]) -> None:
        """Replace this process's names in the topic's presence set, and nudge the other
        processes to read it; ``BackendUnavailable`` while Redis is down (the names
        are kept, and written on reconnection)."""
        before = self._present.get(topic, frozenset())
        if names:
            self._present[topic] = names
        else:
            self._present.pop(topic, None)
        client = self._client()
        assert self._renew is not None
        key, me = self._key(topic), self.process_id
        try:
            if before - names:
                await client.zrem(key, *(f"{me}:{name}" for name in before - names))
            if names - before:
                ttl = int(self.presence_ttl * 1000)
                await self._renew(keys=[key], args=[ttl, *(f"{me}:{name}" for name in names)])
            await client.publish(self._channel(topic), _NUDGE)
        except _redis_errors() as exc:
            raise BackendUnavailable(f"Redis at {self.url}: {exc}") from exc

    async def presence(self, topic: str) -> frozenset[str]:
        """The live names in the topic's presence set, over every process (expired
        entries are removed as they are read)."""
        client = self._client()
        assert self._read is not None
        try:
            entries = await self._read(keys=[self._key(topic)], client=client)
        except _redis_errors() as exc:
            raise BackendUnavailable(f"Redis at {self.url}: {exc}") from exc
        return frozenset(entry.decode().partition(":")[2] for entry in entries)

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        topic = self._topics.get(channel)
        if topic is None:  # this process's own channel, or one unwatched meanwhile
            return
        kind, payload = data[:1], data[1:]
        if kind == _TEXT:
            assert self._deliver is not None
            self._deliver(topic, payload.decode())
        elif kind == _BINARY:
            assert self._deliver is not None
            self._deliver(topic, payload)
        elif kind == _NUDGE and self._changed is not None:
            self._changed(topic)
        else:
            log.debug("ignoring a message of unknown kind on %r", channel)

    async def _listen(self) -> None:
        """Read the subscriber connection; when it is lost, come back."""
        errors = _redis_errors()
        while True:
            assert self._pubsub is not None
            try:
                message: Any = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=None
                )
            except errors as exc:
                await self._reconnect(exc)
                continue
            if message is not None and message["type"] == "message":
                self._dispatch(message["channel"], message["data"])

    async def _reconnect(self, error: BaseException) -> None:
        self._connected = False
        log.warning("lost Redis at %s (%s): publishing fails until it is back", self.url, error)
        if self._pubsub is not None:
            await _close_quietly(self._pubsub)
            self._pubsub = None
        delay = 0.05
        while True:
            await asyncio.sleep(delay)
            try:
                self._pubsub = await self._subscribed()
            except _redis_errors() as exc:
                delay = min(delay * 2, self.max_backoff)
                log.debug(
                    "Redis at %s still unreachable (%s); next try in %.2f s", self.url, exc, delay
                )
                continue
            break
        self._connected = True
        log.warning(
            "reconnected to Redis at %s: %d topics subscribed again", self.url, len(self._topics)
        )
        await self._renew_presence()
        if self._changed is not None:
            for topic in list(self._topics.values()):
                self._changed(topic)

    async def _renew_presence(self) -> None:
        assert self._renew is not None
        ttl, me = int(self.presence_ttl * 1000), self.process_id
        for topic, names in list(self._present.items()):
            entries = [f"{me}:{name}" for name in names]
            try:
                await self._renew(keys=[self._key(topic)], args=[ttl, *entries])
            except _redis_errors() as exc:
                log.debug("renewing presence of %r failed: %s", topic, exc)
                return

    async def _maintain(self) -> None:
        """Renew this process's presence and look for expiries, every ttl/4 seconds."""
        while True:
            await asyncio.sleep(self.presence_ttl / 4)
            if not self._connected:
                continue
            await self._renew_presence()
            if self._changed is not None:
                for topic in list(self._topics.values()):
                    self._changed(topic)
