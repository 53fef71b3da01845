"""Per-room chat history in SQLite, kept off the event loop.

One worker thread owns the connection, so SQLite sees a single user and the server
never blocks on disk while a query runs.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypedDict, TypeVar

T = TypeVar("T")

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


class Message(TypedDict):
    id: int
    room: str
    nick: str
    text: str
    ts: float


class ChatStore:
    """``await store.add(...)`` and ``await store.history(room)``; open, then close."""

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

    async def history(self, room: str, limit: int = 50) -> list[Message]:
        db = self._conn()

        def select() -> list[Message]:
            rows = db.execute(
                "SELECT id, room, nick, text, ts FROM messages WHERE room = ?"
                " ORDER BY id DESC LIMIT ?",
                (room, limit),
            ).fetchall()
            return [Message(id=r[0], room=r[1], nick=r[2], text=r[3], ts=r[4]) for r in rows[::-1]]

        result: list[Message] = await self._run(select)
        return result
