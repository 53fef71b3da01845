"""The chat demo: rooms, presence, history, over one WebSocket per browser tab.

    python demos/chat/app.py [--host 127.0.0.1] [--port 8080] [--db PATH]

Messages are JSON. The page sends ``{"type": "join", "room", "nick"}`` and
``{"type": "say", "text"}``; the server answers ``welcome`` (history and who is
online), and publishes ``message`` and ``presence`` events to the room's topic on the
hub, so every member gets the same frame bytes. History lives in SQLite.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))  # run as a script: find store.py

from store import ChatStore

from tidewire.protocol import WSMsgType
from tidewire.server import (
    AppKey,
    Application,
    FileResponse,
    Hub,
    Request,
    WebSocketResponse,
    run_app,
)

STATIC = Path(__file__).parent / "static"
DEFAULT_DB = Path(__file__).parent / "chat.db"
ROOM = re.compile(r"[A-Za-z0-9_-]{1,32}")
MAX_NICK = 32
MAX_TEXT = 1000
RATE = 5.0  # messages per second a member may send on average...
BURST = 10  # ...and at once
HISTORY = 50

db_path_key = AppKey("db_path", str)
store_key = AppKey("store", ChatStore)
hub_key = AppKey("hub", Hub)
rooms_key = AppKey("rooms", dict)


class RateLimit:
    """A token bucket: ``BURST`` at once, then ``RATE`` per second."""

    __slots__ = ("_stamp", "_tokens")

    def __init__(self) -> None:
        self._tokens = float(BURST)
        self._stamp = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self._tokens = min(BURST, self._tokens + (now - self._stamp) * RATE)
        self._stamp = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class Member:
    """One connected tab: its socket, name, room and send allowance."""

    __slots__ = ("limit", "nick", "room", "ws")

    def __init__(self, ws: WebSocketResponse) -> None:
        self.ws = ws
        self.nick = ""
        self.room = ""
        self.limit = RateLimit()


def clean_nick(value: Any) -> str | None:
    """A nickname of 1-32 printable characters, or None."""
    if not isinstance(value, str):
        return None
    nick = value.strip()
    if not 0 < len(nick) <= MAX_NICK:
        return None
    if any(unicodedata.category(char).startswith("C") for char in nick):
        return None
    return nick


def online(app: Application, room: str) -> list[str]:
    """Who is in ``room``: each nickname once, however many tabs it has open."""
    members: dict[WebSocketResponse, str] = app[rooms_key].get(room, {})
    return sorted(set(members.values()), key=str.lower)


async def publish(app: Application, room: str, event: dict[str, Any]) -> None:
    await app[hub_key].publish(f"room:{room}", json.dumps(event))


async def join(app: Application, member: Member, data: dict[str, Any]) -> None:
    nick, room = clean_nick(data.get("nick")), data.get("room")
    if nick is None:
        await error(member, f"pick a nickname of 1 to {MAX_NICK} characters")
        return
    if not isinstance(room, str) or not ROOM.fullmatch(room):
        await error(member, "room names are 1 to 32 letters, digits, - or _")
        return
    if member.room:
        await leave(app, member)
    arriving = nick not in online(app, room)  # not just another tab of someone here
    member.nick, member.room = nick, room
    app[rooms_key].setdefault(room, {})[member.ws] = nick
    await app[hub_key].subscribe(f"room:{room}", member.ws)
    history = await app[store_key].history(room, HISTORY)
    await member.ws.send_json(
        {
            "type": "welcome",
            "room": room,
            "nick": nick,
            "history": history,
            "online": online(app, room),
        }
    )
    if not arriving:
        return
    await publish(
        app,
        room,
        {
            "type": "presence",
            "event": "join",
            "room": room,
            "nick": nick,
            "online": online(app, room),
        },
    )


async def leave(app: Application, member: Member) -> None:
    room = member.room
    members = app[rooms_key].get(room, {})
    members.pop(member.ws, None)
    if not members:
        app[rooms_key].pop(room, None)
    member.room = ""
    await app[hub_key].unsubscribe(f"room:{room}", member.ws)
    if member.nick in online(app, room):  # still there in another tab
        return
    await publish(
        app,
        room,
        {
            "type": "presence",
            "event": "leave",
            "room": room,
            "nick": member.nick,
            "online": online(app, room),
        },
    )


async def say(app: Application, member: Member, data: dict[str, Any]) -> None:
    text = data.get("text")
    if not member.room:
        await error(member, "join a room first")
    elif not isinstance(text, str) or not text.strip():
        await error(member, "empty message")
    elif len(text) > MAX_TEXT:
        await error(member, f"message too long (at most {MAX_TEXT} characters)")
    elif not member.limit.allow():
        await error(member, f"slow down: at most {RATE:g} messages per second")
    else:
        message = await app[store_key].add(member.room, member.nick, text.strip())
        await publish(app, member.room, {"type": "message", **message})


async def error(member: Member, text: str) -> None:
    await member.ws.send_json({"type": "error", "error": text})


async def chat_socket(request: Request) -> WebSocketResponse:
    # No context takeover: one compressed frame serves every member of a room.
    ws = WebSocketResponse(server_no_context_takeover=True, heartbeat=30, max_msg_size=16384)
    await ws.prepare(request)
    app = request.app
    member = Member(ws)
    try:
        async for msg in ws:
            try:
                data = json.loads(msg.data) if msg.type is WSMsgType.TEXT else None
            except ValueError:
                data = None
            if not isinstance(data, dict):
                await error(member, "messages are JSON objects")
            elif data.get("type") == "join":
                await join(app, member, data)
            elif data.get("type") == "say":
                await say(app, member, data)
            else:
                await error(member, "unknown message type")
    finally:
        if member.room:
            await leave(app, member)
    return ws


async def index(request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html")


async def open_store(app: Application) -> None:
    store = ChatStore(app[db_path_key])
    await store.open()
    app[store_key] = store


async def close_store(app: Application) -> None:
    await app[store_key].close()


def make_app(db_path: str | Path = DEFAULT_DB, *, hub: Hub | None = None) -> Application:
    app = Application()
    app[db_path_key] = str(db_path)
    app[hub_key] = hub if hub is not None else Hub()
    app[rooms_key] = {}
    app.on_startup.append(open_store)
    app.on_cleanup.append(close_store)
    app.router.add_get("/", index)
    app.router.add_get("/ws", chat_socket)
    app.router.add_static("/static", STATIC)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="tidewire chat demo")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--db",
        default=str(DEFAULT_DB),
        help="SQLite file of the rooms' history (default: %(default)s; ':memory:' keeps none)",
    )
    args = parser.parse_args()

    def announce(banner: str) -> None:  # once listening; the real port even for --port 0
        url = re.search(r"https?://\S+", banner)
        print(f"Chat running on {url[0] if url else banner} (Ctrl+C to stop)", flush=True)

    run_app(make_app(args.db), host=args.host, port=args.port, print=announce)


if __name__ == "__main__":
    main()
