"""Per-room chat history: one interface, two stores.

``ChatStore`` is what the chat needs: ``add`` a message (the store gives its id),
``history`` (the last messages of a room, or only those after an id a reconnecting
page saw last), and ``remove`` (a message that could not be broadcast). Ids grow
with each message of a room and are compared with ``id_key``.

- ``SQLiteStore``: one process (``make demo``); ids are integers. One worker thread
  owns the connection, so SQLite sees a single user and the server never blocks on
  disk while a query runs.
- ``RedisStreamStore``: several processes (``--redis``); a Redis Stream per room,
  capped near ``max_len`` entries, ids are the stream's (``"1700000000000-0"``).

Both raise ``StoreUnavailable`` (a ``ConnectionError``) when they cannot be reached,
and ``ValueError`` for an ``after`` that is not one of their ids.
"""

from __future__ import annotations

import abc
import asyncio
import re
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

if TYPE_CHECKING:
    from redis.asyncio import Redis

T = TypeVar("T")
MessageId = int | str

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room TEXT NOT NULL,
    nick TEXT NOT NULL,
    text TEXT NOT NULL,
    ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_room ON messages (room, id);
"""
STREAM_ID = re.compile(r"\d{1,20}(-\d{1,20})?")


class Message(TypedDict):
    id: MessageId
    room: str
    nick: str
    text: str
    ts: float


class StoreUnavailable(ConnectionError):
    """The store cannot be reached now (Redis is down)."""


def id_key(message_id: MessageId) -> tuple[int, ...]:
    """Ids of either store in their order: ``7`` -> ``(7,)``, ``"17-2"`` -> ``(17, 2)``."""
    return tuple(int(part) for part in str(message_id).split("-"))


class ChatStore(abc.ABC):
    """A room's messages: ``open``, then ``add``/``history``/``remove``, then ``close``."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect (raises ``StoreUnavailable`` when the store cannot be reached)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Disconnect."""

    @abc.abstractmethod
    async def add(self, room: str, nick: str, text: str) -> Message:
        """Keep a message; it comes back with its id, greater than every earlier one."""

    @abc.abstractmethod
    async def history(
        self, room: str, limit: int = 50, *, after: MessageId | None = None
    ) -> list[Message]:
        """The last ``limit`` messages of ``room``, oldest first; with ``after``, only
        those whose id is greater (``0`` is before every message)."""

    @abc.abstractmethod
    async def remove(self, room: str, message_id: MessageId) -> None:
        """Forget a message (one that was never broadcast)."""


class SQLiteStore(ChatStore):
    """History in a SQLite file (``":memory:"`` keeps it only while the process runs)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chat-db")
        self._db: sqlite3.Connection | None = None

    async def _run(self, func: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    async def open(self) -> None:
        def connect() -> sqlite3.Connection:
            db = sqlite3.connect(self.path, check_same_thread=False)
            db.executescript(SCHEMA)
            return db

        self._db = await self._run(connect)

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the chat store is not open")
        return self._db

    async def add(self, room: str, nick: str, text: str) -> Message:
        db = self._conn()
        ts = time.time()

        def insert() -> int:
            with db:
                cursor = db.execute(
                    "INSERT INTO messages (room, nick, text, ts) VALUES (?, ?, ?, ?)",
                    (room, nick, text, ts),
                )
            return int(cursor.lastrowid or 0)

        row_id = await self._run(insert)
        return Message(id=row_id, room=room, nick=nick, text=text, ts=ts)

    async def history(
        self, room: str, limit: int = 50, *, after: MessageId | None = None
    ) -> list[Message]:
        db = self._conn()
        first = 0
        if after is not None:
            if not str(after).isdigit():
                raise ValueError(f"not a message id here: {after!r}")
            first = int(after)

        def select() -> list[Message]:
            rows = db.execute(
                "SELECT id, room, nick, text, ts FROM messages WHERE room = ? AND id > ?"
                " ORDER BY id DESC LIMIT ?",
                (room, first, limit),
            ).fetchall()
            return [Message(id=r[0], room=r[1], nick=r[2], text=r[3], ts=r[4]) for r in rows[::-1]]

        result: list[Message] = await self._run(select)
        return result

    async def remove(self, room: str, message_id: MessageId) -> None:
        db = self._conn()

        def delete() -> None:
            with db:
                db.execute("DELETE FROM messages WHERE room = ? AND id = ?", (room, message_id))

        await self._run(delete)


class RedisStreamStore(ChatStore):
    """History in one Redis Stream per room (``prefix + "history:" + room``), trimmed
    to about ``max_len`` entries as messages are added; every process of the chat
    reads and writes the same streams, so a page can catch up on any of them."""

    def __init__(self, url: str, *, prefix: str = "tidewire:chat:", max_len: int = 1000) -> None:
        self.url = url
        self.prefix = prefix
        self.max_len = max_len
        self._redis: Redis | None = None

    def _key(self, room: str) -> str:
        return f"{self.prefix}history:{room}"

    def _client(self) -> Redis:
        if self._redis is None:
            raise RuntimeError("the chat store is not open")
        return self._redis

    async def open(self) -> None:
        from redis.asyncio import Redis  # noqa: PLC0415
        from redis.asyncio.retry import Retry  # noqa: PLC0415
        from redis.backoff import NoBackoff  # noqa: PLC0415

        # One retry at once, on a new connection: the first command after Redis came
        # back finds the old one broken. While Redis is down, a message fails at once.
        self._redis = Redis.from_url(
            self.url, retry=Retry(NoBackoff(), 1), socket_connect_timeout=5, socket_timeout=5
        )
        await self._call(self._redis.ping())

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def _call(self, command: Any) -> Any:
        from redis.exceptions import RedisError  # noqa: PLC0415

        try:
            return await command
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"history at {self.url}: {exc}") from exc

    async def add(self, room: str, nick: str, text: str) -> Message:
        ts = time.time()
        fields: dict[Any, Any] = {"nick": nick, "text": text, "ts": repr(ts)}
        entry = await self._call(
            self._client().xadd(self._key(room), fields, maxlen=self.max_len, approximate=True)
        )
        return Message(id=entry.decode(), room=room, nick=nick, text=text, ts=ts)

    async def history(
        self, room: str, limit: int = 50, *, after: MessageId | None = None
    ) -> list[Message]:
        lowest = "-"
        if after is not None:
            if not STREAM_ID.fullmatch(str(after)):
                raise ValueError(f"not a message id here: {after!r}")
            lowest = f"({after}"
        entries = await self._call(
            self._client().xrevrange(self._key(room), "+", lowest, count=limit)
        )
        return [
            Message(
                id=entry.decode(),
                room=room,
                nick=fields[b"nick"].decode(),
                text=fields[b"text"].decode(),
                ts=float(fields[b"ts"]),
            )
            for entry, fields in reversed(entries)
        ]

    async def remove(self, room: str, message_id: MessageId) -> None:
        await self._call(self._client().xdel(self._key(room), str(message_id)))
