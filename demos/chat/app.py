"""The chat demo: rooms, presence, history, over one WebSocket per browser tab.

    python demos/chat/app.py [--host 127.0.0.1] [--port 8080] [--db PATH] [--redis URL]

Messages are JSON. The page sends ``{"type": "join", "room", "nick"}`` (and, when it
comes back after a drop, ``"since"``: the id of the newest message it has) and
``{"type": "say", "text"}``. The server answers ``welcome``: the room's last messages
(with ``since``, only those after it), who is online and which process answered
(``"server"``: its pid); it publishes each ``message`` to the room's topic on the hub,
so every member gets the same frame bytes, and tells ``presence`` events (a nick
joined or left, and who is online) from the hub's presence. A member's own ``join``
event comes just before its ``welcome``.

One process by default: the in-memory hub, history in SQLite. With ``--redis URL``
(or ``TIDEWIRE_CHAT_REDIS``) rooms and presence go through Redis and history lives in
a Redis Stream per room, so any number of processes serve the same rooms, and a page
that reconnects to another process catches up from its ``since``.

The nickname and room live in the visitor's session (``tidewire.server.sessions``):
the page reads ``GET /session`` when it loads and rejoins by itself, and saves them
with ``POST /session`` once welcomed. With Redis the session is in Redis too
(``RedisStorage``), so a reload rejoins on whichever process answers; otherwise it is
an encrypted cookie, whose key is ``TIDEWIRE_CHAT_SECRET`` (url-safe base64 of 32
bytes) or, without it, new at each start.

A message is stored first, then published: the history holds every message that was
broadcast. When it cannot be published (Redis is down) it is removed from the
history again and its sender gets ``{"type": "error", "error": "not delivered: ..."}``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))  # run as a script: find store.py

from store import ChatStore, MessageId, RedisStreamStore, SQLiteStore

from tidewire.protocol import WSMsgType
from tidewire.server import (
    AppKey,
    Application,
    BackendUnavailable,
    FileResponse,
    HTTPBadRequest,
    Hub,
    PresenceChange,
    RedisBackend,
    Request,
    Response,
    WebSocketResponse,
    json_response,
    run_app,
    sessions,
)

STATIC = Path(__file__).parent / "static"
DEFAULT_DB = Path(__file__).parent / "chat.db"
ROOM = re.compile(r"[A-Za-z0-9_-]{1,32}")
MAX_NICK = 32
MAX_TEXT = 1000
RATE = 5.0  # messages per second a member may send on average...
BURST = 10  # ...and at once
HISTORY = 50  # messages in the welcome of a new member...
CATCH_UP = 1000  # ...and at most in that of one coming back with "since"
PREFIX = "tidewire:chat:"  # of every Redis key and channel of the chat
TRY_AGAIN_LATER = 1013  # close code: the page reconnects and joins again

store_key = AppKey("store", ChatStore)
hub_key = AppKey("hub", Hub)


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


def topic_of(room: str) -> str:
    return f"room:{room}"


def server_id() -> str:
    """Which process answered (in the welcome, and a header of the page)."""
    return str(os.getpid())


def parse_since(value: Any) -> MessageId | None:
    """The ``since`` of a join: a message id (or 0 for "before the first"), else None."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    return value


async def tell_presence(hub: Hub, change: PresenceChange) -> None:
    """The hub's presence news, as the chat's ``presence`` events, one per nick; told
    to this process's members only (each process tells its own, so nobody hears it
    twice)."""
    room = change.topic.removeprefix("room:")
    online = list(change.online)
    for event, nicks in (("join", change.joined), ("leave", change.left)):
        for nick in nicks:
            news = {"type": "presence", "event": event, "room": room, "nick": nick}
            hub.deliver(change.topic, json.dumps({**news, "online": online}))


async def join(app: Application, member: Member, data: dict[str, Any]) -> None:
    nick, room = clean_nick(data.get("nick")), data.get("room")
    if nick is None:
        await error(member, f"pick a nickname of 1 to {MAX_NICK} characters")
        return
    if not isinstance(room, str) or not ROOM.fullmatch(room):
        await error(member, "room names are 1 to 32 letters, digits, - or _")
        return
    since = parse_since(data.get("since"))
    if "since" in data and since is None:
        await error(member, "since is the id of a message")
        return
    await leave(app, member)
    hub, topic = app[hub_key], topic_of(room)
    try:
        # Subscribed (and present) first, then the history: a message published
        # meanwhile may come twice (pages and the terminal client skip an id they
        # have), but none is missed.
        await hub.subscribe(topic, member.ws, presence=nick)
        member.nick, member.room = nick, room
        if since is None:
            history = await app[store_key].history(room, HISTORY)
        else:
            history = await app[store_key].history(room, CATCH_UP, after=since)
        online = list(await hub.presence(topic))
    except ValueError:
        await leave(app, member)
        await error(member, "since is the id of a message")
        return
    except ConnectionError as exc:  # Redis is down: the page comes back later
        await leave(app, member)
        await error(member, f"cannot join now: {exc}")
        await member.ws.close(code=TRY_AGAIN_LATER, message=b"try again later")
        return
    welcome = {"type": "welcome", "room": room, "nick": nick, "history": history}
    await member.ws.send_json({**welcome, "online": online, "server": server_id()})


async def leave(app: Application, member: Member) -> None:
    room, member.room = member.room, ""
    if room:  # its presence tells the others; while Redis is down, once it is back
        with contextlib.suppress(ConnectionError):
            await app[hub_key].unsubscribe(topic_of(room), member.ws)


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
        await broadcast(app, member, text.strip())


async def broadcast(app: Application, member: Member, text: str) -> None:
    """Store, then publish: what was broadcast is in the history. A message that cannot
    be published is taken out of the history again, and its sender told."""
    hub, store, room = app[hub_key], app[store_key], member.room
    try:
        if not hub.backend.connected:
            raise BackendUnavailable("the message broker is unreachable")
        message = await store.add(room, member.nick, text)
    except ConnectionError as exc:
        await error(member, f"not delivered: {exc}")
        return
    try:
        await hub.publish(topic_of(room), json.dumps({"type": "message", **message}))
    except BackendUnavailable as exc:
        with contextlib.suppress(ConnectionError):  # Redis gone too: it stays, unsent
            await store.remove(room, message["id"])
        await error(member, f"not delivered: {exc}")


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
        await leave(app, member)
    return ws


async def read_session(request: Request) -> Response:
    """The nickname and room this visitor last joined with, for the page to rejoin."""
    session = await sessions.get_session(request)
    return json_response({"nick": session.get("nick"), "room": session.get("room")})


async def write_session(request: Request) -> Response:
    """Keep the nickname and room the page was welcomed with (400 if not valid)."""
    try:
        data = await request.json()
    except ValueError:
        data = None
    nick = clean_nick(data.get("nick")) if isinstance(data, dict) else None
    room = data.get("room") if isinstance(data, dict) else None
    if nick is None or not isinstance(room, str) or not ROOM.fullmatch(room):
        raise HTTPBadRequest(text="expected {nick, room} as the chat accepts them")
    session = await sessions.get_session(request)
    session["nick"], session["room"] = nick, room
    return Response(status=204)


def session_storage(redis_url: str | None) -> sessions.AbstractStorage:
    """Redis when the rooms are there (every process reads the session), else an
    encrypted cookie (its key from ``TIDEWIRE_CHAT_SECRET``, or new at each start)."""
    month = 30 * 24 * 3600
    if redis_url:
        return sessions.RedisStorage(
            redis_url, key_prefix=f"{PREFIX}session:", max_age=month, cookie_name="CHAT"
        )
    secret = os.environ.get("TIDEWIRE_CHAT_SECRET") or os.urandom(32)
    return sessions.EncryptedCookieStorage(secret, max_age=month, cookie_name="CHAT")


async def index(request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"X-Tidewire-Process": server_id()})


async def start(app: Application) -> None:
    await app[store_key].open()
    await app[hub_key].start()


async def stop(app: Application) -> None:
    await app[hub_key].close()
    await app[store_key].close()


def make_app(
    db_path: str | Path | None = None, *, redis_url: str | None = None, hub: Hub | None = None
) -> Application:
    """The chat. ``redis_url`` (default: ``TIDEWIRE_CHAT_REDIS``, when set) puts rooms,
    presence and history in Redis; otherwise one process, history in the SQLite file
    ``db_path`` (default: ``TIDEWIRE_CHAT_DB``, else ``chat.db`` beside this file).
    Without arguments, as ``gunicorn app:make_app`` calls it, the environment decides."""
    redis_url = redis_url or os.environ.get("TIDEWIRE_CHAT_REDIS") or None
    store: ChatStore
    if redis_url:
        store = RedisStreamStore(redis_url, prefix=PREFIX)
        hub = hub if hub is not None else Hub(RedisBackend(redis_url, prefix=PREFIX))
    else:
        store = SQLiteStore(str(db_path or os.environ.get("TIDEWIRE_CHAT_DB") or DEFAULT_DB))
        hub = hub if hub is not None else Hub()
    if hub.on_presence is None:
        hub.on_presence = functools.partial(tell_presence, hub)
    app = Application()
    app[store_key] = store
    app[hub_key] = hub
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    sessions.setup(app, session_storage(redis_url))
    app.router.add_get("/session", read_session)
    app.router.add_post("/session", write_session)
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
        help="SQLite file of the rooms' history without --redis"
        " (default: %(default)s; ':memory:' keeps none)",
    )
    parser.add_argument(
        "--redis",
        metavar="URL",
        default=os.environ.get("TIDEWIRE_CHAT_REDIS"),
        help="rooms, presence and history in Redis, shared by every process started with"
        " the same URL, e.g. redis://127.0.0.1:6379/0 (default: TIDEWIRE_CHAT_REDIS)",
    )
    args = parser.parse_args()

    def announce(banner: str) -> None:  # once listening; the real port even for --port 0
        url = re.search(r"https?://\S+", banner)
        print(f"Chat running on {url[0] if url else banner} (Ctrl+C to stop)", flush=True)

    app = make_app(args.db, redis_url=args.redis)
    try:
        run_app(app, host=args.host, port=args.port, print=announce)
    except ConnectionError as exc:  # Redis unreachable at startup: say so, no traceback
        sys.exit(f"chat: cannot start: {exc}")


if __name__ == "__main__":
    main()
