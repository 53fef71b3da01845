"""The chat server's protocol, through tidewire's client: join, talk, presence,
history across a restart, and every limit answered with a visible error."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from demo_support import CHAT, ChatServers, chat

from tidewire.client import ClientSession, WSMsgType


async def next_event(ws: Any, kind: str) -> dict[str, Any]:
    """The next event of ``kind``, skipping presence chatter in between."""
    while True:
        event = json.loads(await ws.receive_str())
        if event["type"] == kind:
            return event  # type: ignore[no-any-return]
        assert event["type"] == "presence", event


async def joined(session: ClientSession, url: str, nick: str, room: str = "lobby") -> Any:
    ws = await session.ws_connect(f"{url}/ws")
    await ws.send_json({"type": "join", "nick": nick, "room": room})
    welcome = await next_event(ws, "welcome")
    assert (welcome["nick"], welcome["room"]) == (nick, room)
    return ws


async def test_two_members_talk_and_see_each_other(
    chat_servers: ChatServers, tmp_path: Path
) -> None:
    url = await chat_servers.start(tmp_path / "chat.db")
    async with ClientSession() as session:
        ann = await joined(session, url, "ann")
        bob = await joined(session, url, "bob")
        presence = json.loads(await ann.receive_str())
        assert presence == {
            "type": "presence",
            "event": "join",
            "room": "lobby",
            "nick": "bob",
            "online": ["ann", "bob"],
        }
        await bob.send_json({"type": "say", "text": "hi ann <b>!</b>"})
        for ws in (ann, bob):
            message = await next_event(ws, "message")
            assert (message["nick"], message["text"]) == ("bob", "hi ann <b>!</b>")
        await bob.close()
        left = await next_event(ann, "presence")
        assert (left["event"], left["online"]) == ("leave", ["ann"])
        await ann.close()


async def test_rooms_are_separate(chat_servers: ChatServers, tmp_path: Path) -> None:
    url = await chat_servers.start(tmp_path / "chat.db")
    async with ClientSession() as session:
        lobby = await joined(session, url, "ann", "lobby")
        other = await joined(session, url, "bob", "other")
        await other.send_json({"type": "say", "text": "only here"})
        assert (await next_event(other, "message"))["text"] == "only here"
        await lobby.send_json({"type": "say", "text": "lobby only"})
        assert (await next_event(lobby, "message"))["text"] == "lobby only"
        await other.send_json({"type": "say", "text": "still only here"})
        assert (await next_event(other, "message"))["text"] == "still only here"
        for ws in (lobby, other):
            await ws.close()


async def test_history_survives_a_restart(chat_servers: ChatServers, tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    url = await chat_servers.start(db)
    async with ClientSession() as session:
        ws = await joined(session, url, "ann")
        for text in ("first", "second"):
            await ws.send_json({"type": "say", "text": text})
            await next_event(ws, "message")
        await ws.close()
    await chat_servers.stop(url)
    url = await chat_servers.start(db)
    async with ClientSession() as session:
        ws = await session.ws_connect(f"{url}/ws")
        await ws.send_json({"type": "join", "nick": "bob", "room": "lobby"})
        welcome = await next_event(ws, "welcome")
        assert [(m["nick"], m["text"]) for m in welcome["history"]] == [
            ("ann", "first"),
            ("ann", "second"),
        ]
        await ws.close()


async def test_bad_input_gets_a_clear_error(chat_servers: ChatServers, tmp_path: Path) -> None:
    url = await chat_servers.start(tmp_path / "chat.db")
    async with ClientSession() as session:
        ws = await session.ws_connect(f"{url}/ws")
        cases: list[tuple[Any, str]] = [
            ("not json", "JSON"),
            ({"type": "say", "text": "hi"}, "join a room first"),
            ({"type": "join", "nick": "", "room": "lobby"}, "nickname"),
            ({"type": "join", "nick": "x" * 33, "room": "lobby"}, "nickname"),
            ({"type": "join", "nick": "ann", "room": "../etc"}, "room names"),
            ({"type": "dance"}, "unknown"),
        ]
        for sent, complaint in cases:
            await (ws.send_str(sent) if isinstance(sent, str) else ws.send_json(sent))
            assert complaint in (await next_event(ws, "error"))["error"]
        await ws.send_json({"type": "join", "nick": "ann", "room": "lobby"})
        await next_event(ws, "welcome")
        await ws.send_json({"type": "say", "text": "x" * (chat.MAX_TEXT + 1)})
        assert "too long" in (await next_event(ws, "error"))["error"]
        await ws.close()


async def test_the_rate_limit_stops_a_flood(chat_servers: ChatServers, tmp_path: Path) -> None:
    url = await chat_servers.start(tmp_path / "chat.db")
    async with ClientSession() as session:
        ws = await joined(session, url, "flood")
        for i in range(chat.BURST + 5):
            await ws.send_json({"type": "say", "text": f"spam {i}"})
        kinds = []
        for _ in range(chat.BURST + 5):
            event = json.loads(await ws.receive_str())
            kinds.append(event["type"])
        assert kinds.count("message") >= chat.BURST
        assert "error" in kinds
        await ws.close()


async def test_a_second_tab_of_the_same_nick_is_one_person(
    chat_servers: ChatServers, tmp_path: Path
) -> None:
    url = await chat_servers.start(tmp_path / "chat.db")
    async with ClientSession() as session:
        bob = await joined(session, url, "bob")  # his own arrival came before the welcome
        first = await joined(session, url, "ann")
        assert (await next_event(bob, "presence"))["online"] == ["ann", "bob"]
        second = await session.ws_connect(f"{url}/ws")
        await second.send_json({"type": "join", "nick": "ann", "room": "lobby"})
        assert (await next_event(second, "welcome"))["online"] == ["ann", "bob"]
        await first.close()  # ann is still there in her other tab: nobody left
        await second.send_json({"type": "say", "text": "still here"})
        assert (await next_event(bob, "message"))["text"] == "still here"
        await second.close()
        left = await next_event(bob, "presence")
        assert (left["event"], left["nick"], left["online"]) == ("leave", "ann", ["bob"])
        await bob.close()


async def read_until(stream: asyncio.StreamReader, wanted: str) -> list[str]:
    """Lines of the terminal client up to and including one that contains ``wanted``."""
    lines = []
    while True:
        line = (await asyncio.wait_for(stream.readline(), 30)).decode()
        assert line, f"the terminal client ended before printing {wanted!r}: {lines}"
        lines.append(line.rstrip("\n"))
        if wanted in line:
            return lines


async def test_the_terminal_client_rides_out_a_restart(
    chat_servers: ChatServers, tmp_path: Path
) -> None:
    db = tmp_path / "chat.db"
    url = await chat_servers.start(db)
    cli = await asyncio.create_subprocess_exec(
        sys.executable,
        *(str(CHAT / "cli.py"), "--url", url, "--room", "lobby", "--nick", "term"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert cli.stdin is not None and cli.stdout is not None
    try:
        await read_until(cli.stdout, "joined #lobby as term")
        cli.stdin.write(b"before the restart\n")
        await read_until(cli.stdout, "term: before the restart")
        await chat_servers.stop(url)
        await read_until(cli.stdout, "disconnected, retrying")
        cli.stdin.write(b"typed while away\n")
        url = await chat_servers.start(db, urlsplit(url).port or 0)
        shown = await read_until(cli.stdout, "term: typed while away")
        assert not any("before the restart" in line for line in shown)  # no history twice
    finally:
        cli.stdin.close()
        assert await asyncio.wait_for(cli.wait(), 30) == 0


async def test_a_member_who_stops_reading_is_dropped_and_the_room_goes_on(
    chat_servers: ChatServers, tmp_path: Path, monkeypatch: Any
) -> None:
    # Big messages and no rate limit, so that unread bytes pile up quickly.
    monkeypatch.setattr(chat, "MAX_TEXT", 15000)
    monkeypatch.setattr(chat, "BURST", 10**6)
    url = await chat_servers.start(Path(":memory:"))  # no disk syncs for so many
    async with ClientSession() as session:
        talker = await joined(session, url, "talker")
        sleeper = await session.ws_connect(f"{url}/ws", compress=0, max_queue=1)
        await sleeper.send_json({"type": "join", "nick": "sleeper", "room": "lobby"})
        assert (await next_event(talker, "presence"))["nick"] == "sleeper"
        text = "x" * 14000
        left = None
        for sent in range(3000):  # the sleeper reads nothing from here on
            await talker.send_json({"type": "say", "text": f"{sent} {text}"})
            while True:  # every message comes back: the talker is never held up
                event = json.loads(await talker.receive_str())
                if event["type"] == "presence":
                    left = event
                    continue
                assert event["type"] == "message" and event["text"].startswith(f"{sent} ")
                break
            if left is not None:
                break
        assert left is not None, "the member who stopped reading was never dropped"
        assert (left["event"], left["nick"], left["online"]) == ("leave", "sleeper", ["talker"])
        await talker.send_json({"type": "say", "text": "the room goes on"})
        assert (await next_event(talker, "message"))["text"] == "the room goes on"
        await talker.close()
        while (await sleeper.receive()).type is WSMsgType.TEXT:
            pass  # what reached it before the drop; then it finds the connection gone
        assert sleeper.closed
