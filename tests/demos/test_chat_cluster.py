"""The chat across processes (``app.py --redis URL``), against a real redis-server:
members on two server processes talk and see each other come and go, Redis lost and
back, a process killed, and a member who comes back to the other process catching up."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, NamedTuple

import pytest
from demo_support import CHAT, ChatProcess
from redis_support import RedisServer
from test_chat_browser import open_chat, say, wait_for_online, wait_for_text

from tidewire.client import ClientSession, WSMsgType
from tidewire.server.testing import unused_port

Start = Callable[[int], list[ChatProcess]]


async def event(ws: Any, kind: str, timeout: float = 10.0) -> dict[str, Any]:
    """The next event of ``kind``; presence news in between is skipped."""
    async with asyncio.timeout(timeout):
        while True:
            got = json.loads(await ws.receive_str())
            if got["type"] == kind:
                return got  # type: ignore[no-any-return]
            assert got["type"] == "presence", got


async def member(
    session: ClientSession, server: ChatProcess, nick: str, since: Any = None
) -> tuple[Any, dict[str, Any]]:
    """A member of #lobby on ``server``, and its welcome."""
    ws = await session.ws_connect(f"{server.url}/ws")
    join = {"type": "join", "nick": nick, "room": "lobby"}
    await ws.send_json(join if since is None else {**join, "since": since})
    welcome = await event(ws, "welcome")
    assert welcome["server"] == server.pid  # the process that answered says so
    return ws, welcome


class Lobby(NamedTuple):
    """Two chat processes, ann in #lobby on the first and bob on the second, each
    told of the other."""

    session: ClientSession
    first: ChatProcess
    second: ChatProcess
    ann: Any
    bob: Any


@pytest.fixture
async def lobby(chat_processes: Start) -> AsyncIterator[Lobby]:
    first, second = chat_processes(2)
    async with ClientSession() as session:
        ann, _ = await member(session, first, "ann")
        bob, welcome = await member(session, second, "bob")
        assert welcome["online"] == ["ann", "bob"]  # presence over both processes
        await presence_of(ann, "bob", "join")
        yield Lobby(session, first, second, ann, bob)


async def answer(ws: Any, timeout: float = 10.0) -> dict[str, Any]:
    """What a ``say`` brought back: the message, or an error."""
    async with asyncio.timeout(timeout):
        while True:
            got = json.loads(await ws.receive_str())
            if got["type"] != "presence":
                return got  # type: ignore[no-any-return]


async def delivered(ws: Any, text: str, timeout: float = 20.0) -> None:
    """Say ``text`` until it is delivered (it comes back), while the answer is "not
    delivered" (the server has not found Redis again yet)."""
    async with asyncio.timeout(timeout):
        while True:
            await ws.send_json({"type": "say", "text": text})
            got = await answer(ws)
            if got["type"] == "message":
                assert got["text"] == text
                return
            assert got["error"].startswith("not delivered: "), got
            await asyncio.sleep(0.3)


async def presence_of(ws: Any, nick: str, what: str, timeout: float = 10.0) -> dict[str, Any]:
    """The next presence event about ``nick``, messages in between skipped."""
    async with asyncio.timeout(timeout):
        while True:
            got = json.loads(await ws.receive_str())
            if got["type"] == "presence" and (got["nick"], got["event"]) == (nick, what):
                return got  # type: ignore[no-any-return]


async def test_two_pages_on_two_processes_talk(browser: Any, chat_processes: Start) -> None:
    first, second = chat_processes(2)
    assert first.pid != second.pid
    ann = await open_chat(browser, first.url, "ann")
    bob = await open_chat(browser, second.url, "bob")
    # each page says which process answered: one each
    assert await ann.text_content("#server") == f"process {first.pid}"
    assert await bob.text_content("#server") == f"process {second.pid}"
    response = await ann.request.get(first.url)
    assert response.headers["x-tidewire-process"] == first.pid
    await wait_for_text(ann, "#messages .event", "bob joined")
    await wait_for_text(ann, "#online li", "bob")
    await wait_for_text(bob, "#online li", "ann")
    await say(ann, "hello from the first process")
    await wait_for_text(bob, "#messages .text", "hello from the first process")
    await say(bob, "hi from the second")
    await wait_for_text(ann, "#messages .text", "hi from the second")
    await bob.close()
    await wait_for_text(ann, "#messages .event", "bob left")
    await wait_for_online(ann, "ann")


async def test_redis_lost_and_back_a_say_is_refused_then_flows_again(
    lobby: Lobby, redis_server: RedisServer
) -> None:
    ann, bob = lobby.ann, lobby.bob
    redis_server.kill()
    async with asyncio.timeout(15):  # until the server has noticed (or the store fails)
        while True:
            await ann.send_json({"type": "say", "text": "into the void"})
            got = await answer(ann)
            if got["type"] == "error":
                assert got["error"].startswith("not delivered: "), got
                break
            assert got["type"] == "message", got  # Redis not yet found gone
            await asyncio.sleep(0.3)
    # joining meanwhile is refused, and closed with 1013 so that a page retries
    late = await lobby.session.ws_connect(f"{lobby.first.url}/ws")
    await late.send_json({"type": "join", "nick": "late", "room": "lobby"})
    assert (await event(late, "error"))["error"].startswith("cannot join now: ")
    assert (await late.receive()).type is WSMsgType.CLOSE
    assert late.close_code == 1013
    redis_server.start()
    # The hubs reconnect and resubscribe: then says are delivered again, across
    # processes (an attempt refused meanwhile reaches nobody, see below).
    await delivered(ann, "back again")
    got = await event(bob, "message")
    assert (got["nick"], got["text"]) == ("ann", "back again")
    await delivered(bob, "me too")
    assert (await event(ann, "message"))["text"] == "me too"
    # the history holds what was sent, not the messages refused meanwhile; a join may
    # still be refused once, by a pooled Redis connection found broken on first use
    async with asyncio.timeout(20):
        while True:
            cat = await lobby.session.ws_connect(f"{lobby.second.url}/ws")
            await cat.send_json({"type": "join", "nick": "cat", "room": "lobby"})
            welcome = await answer(cat)
            if welcome["type"] == "welcome":
                break
            assert welcome["error"].startswith("cannot join now: "), welcome
            await asyncio.sleep(0.3)
    assert [m["text"] for m in welcome["history"]] == ["back again", "me too"]


async def test_a_process_killed_with_sigkill_leaves_presence_within_15_s(lobby: Lobby) -> None:
    lobby.second.kill()
    killed = time.monotonic()
    left = await presence_of(lobby.ann, "bob", "leave", timeout=15)
    assert left["online"] == ["ann"]
    assert time.monotonic() - killed < 15


async def test_a_member_back_on_the_other_process_gets_exactly_what_it_missed(
    lobby: Lobby,
) -> None:
    session, first, second, ann, bob = lobby
    for text in ("one", "two"):
        await ann.send_json({"type": "say", "text": text})
        assert (await event(ann, "message"))["text"] == text
        seen = await event(bob, "message")
        assert seen["text"] == text
    last_seen = seen["id"]
    await bob.close()
    for text in ("three", "four", "five"):
        await ann.send_json({"type": "say", "text": text})
        await event(ann, "message")
    # back, on the other process: only what it missed, in order
    bob, welcome = await member(session, first, "bob", since=last_seen)
    assert [m["text"] for m in welcome["history"]] == ["three", "four", "five"]
    ids = [m["id"] for m in welcome["history"]]
    assert ids == sorted(ids, key=lambda i: [int(p) for p in i.split("-")])
    # a newcomer gets the room's last messages instead
    _, welcome = await member(session, second, "cat")
    assert [m["text"] for m in welcome["history"]] == ["one", "two", "three", "four", "five"]


async def test_make_demo_cluster_serves_the_chat_on_two_workers_and_stops(
    redis_binary: str,
) -> None:
    import tidewire.server  # noqa: PLC0415

    if not hasattr(tidewire.server, "GunicornWorker"):
        pytest.skip("demos/chat/cluster.py needs tidewire.server.GunicornWorker")
    port, redis_port = unused_port(), unused_port()
    cluster = await asyncio.create_subprocess_exec(
        sys.executable,
        *(str(CHAT / "cluster.py"), "--port", str(port), "--redis-port", str(redis_port)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert cluster.stdout is not None
    try:
        banner = await asyncio.wait_for(cluster.stdout.readline(), 30)
        assert f"http://127.0.0.1:{port}" in banner.decode(), banner
        output = asyncio.ensure_future(cluster.stdout.read())  # gunicorn's log, unread
        url = f"http://127.0.0.1:{port}"
        async with ClientSession() as session:
            async with asyncio.timeout(30):  # until the workers listen
                while True:
                    try:
                        await (await session.get(url)).read()
                        break
                    except OSError:
                        await asyncio.sleep(0.2)
            members, servers = [], set()
            for number in range(30):  # until both workers have answered
                ws = await session.ws_connect(f"{url}/ws")
                await ws.send_json({"type": "join", "nick": f"n{number}", "room": "lobby"})
                servers.add((await event(ws, "welcome"))["server"])
                members.append(ws)
                if len(servers) == 2:
                    break
            assert len(servers) == 2, "one worker answered every connection"
            await members[-1].send_json({"type": "say", "text": "to every worker"})
            for ws in members:
                assert (await event(ws, "message"))["text"] == "to every worker"
        cluster.send_signal(signal.SIGINT)  # Ctrl+C: gunicorn and redis-server stop
        assert await asyncio.wait_for(cluster.wait(), 30) == 0, await output
        for stopped in (port, redis_port):
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", stopped), timeout=1).close()
    finally:
        if cluster.returncode is None:
            cluster.kill()
            await cluster.wait()


async def test_a_reload_on_another_process_rejoins_from_the_session(
    browser: Any, chat_processes: Start
) -> None:
    first, second = chat_processes(2)
    context = await browser.new_context()  # one visitor: its cookies go to both ports
    page = await context.new_page()
    await page.goto(first.url)
    await page.wait_for_selector("#status.online", timeout=15_000)
    await page.fill("#nick", "ann")
    await page.fill("#room", "tea")
    await page.click("#join button")
    await page.wait_for_selector("#chat:not([hidden])", timeout=15_000)
    await page.wait_for_function(  # the page stored the nickname in the session
        "async () => (await (await fetch('/session')).json()).nick === 'ann'", timeout=15_000
    )
    again = await context.new_page()
    await again.goto(second.url)  # the other process, nothing typed
    await again.wait_for_selector("#chat:not([hidden])", timeout=15_000)
    assert await again.text_content("#room-title") == "#tea as ann"
    assert await again.text_content("#server") == f"process {second.pid}"
    await context.close()
