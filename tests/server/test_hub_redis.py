"""The hub over a real redis-server: rooms and presence across processes, and what
happens when Redis goes away and comes back."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
from hub_app import hub_key, make_app
from redis_support import RedisServer

from tidewire.client import ClientSession
from tidewire.protocol import WSMsgType
from tidewire.server import BackendUnavailable, Hub
from tidewire.server.testing import TestClient

HERE = Path(__file__).parent
Client = Callable[..., Awaitable[TestClient]]


class ServerProcess:
    """``hub_app.py`` in a process of its own, on a port it picked."""

    def __init__(self, redis_url: str, ttl: float = 10.0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "hub_app.py"), "--redis", redis_url, "--ttl", str(ttl)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        banner = self.process.stdout.readline()  # run_app's "Running on http://..."
        found = re.search(r"http://127\.0\.0\.1:(\d+)", banner)
        if found is None:
            self.process.kill()
            raise RuntimeError(f"hub_app did not start: {banner}{self.process.stdout.read()}")
        self.url = found[0]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


@pytest.fixture
def processes(redis_server: RedisServer) -> Any:
    started: list[ServerProcess] = []

    def start(count: int, ttl: float = 10.0) -> list[ServerProcess]:
        for _ in range(count):
            started.append(ServerProcess(redis_server.url, ttl))
        return started[-count:]

    yield start
    for process in started:
        process.stop()


@pytest.fixture
async def session() -> AsyncIterator[ClientSession]:
    async with ClientSession() as client:
        yield client


async def member(session: ClientSession, url: str, topic: str = "room", name: str = "") -> Any:
    query = f"?topic={topic}" + (f"&name={name}" if name else "")
    ws = await session.ws_connect(f"{url}/ws{query}")
    first = await asyncio.wait_for(ws.receive_str(), 10)
    if name:  # its own arrival is told first, to it as to the others
        assert json.loads(first)["joined"] == [name]
        first = await asyncio.wait_for(ws.receive_str(), 10)
    assert first == "subscribed"
    return ws


async def messages(ws: Any, count: int) -> list[str | bytes]:
    """The next ``count`` published messages, presence news left out."""
    got: list[str | bytes] = []
    while len(got) < count:
        msg = await asyncio.wait_for(ws.receive(), 10)
        assert msg.type in (WSMsgType.TEXT, WSMsgType.BINARY), msg
        if msg.type is WSMsgType.TEXT and msg.data.startswith('{"online"'):
            continue
        got.append(msg.data)
    return got


async def test_members_over_two_processes_each_get_every_message_once_in_order(
    processes: Any, session: ClientSession
) -> None:
    first, second = processes(2)
    members = [await member(session, server.url) for server in (first, second) for _ in range(10)]
    publishers = [members[0], members[10], members[15]]  # one on the first, two on the second
    count = 50
    for number in range(count):
        for index, publisher in enumerate(publishers):
            await publisher.send_str(f"{index}:{number}")
    for ws in members:
        got = await messages(ws, count * len(publishers))
        for index in range(len(publishers)):  # each publisher's messages once, in order
            assert [m for m in got if str(m).startswith(f"{index}:")] == [
                f"{index}:{n}" for n in range(count)
            ]
    await publishers[0].send_str("end")
    for ws in members:  # nothing came twice: the next message is the last one sent
        assert await messages(ws, 1) == ["end"]


async def test_text_stays_text_and_binary_stays_binary_across_processes(
    processes: Any, session: ClientSession
) -> None:
    first, second = processes(2)
    sender, receiver = await member(session, first.url), await member(session, second.url)
    payloads: list[str | bytes] = ["héllo ☃", "", b"", bytes(range(256)), b"t" * 70000, "\x00"]
    for data in payloads:
        await (sender.send_str(data) if isinstance(data, str) else sender.send_bytes(data))
    for ws in (sender, receiver):
        got: list[str | bytes] = []
        while len(got) < len(payloads):
            msg = await asyncio.wait_for(ws.receive(), 10)
            got.append(msg.data)
            assert (msg.type is WSMsgType.TEXT) == isinstance(msg.data, str)
        assert got == payloads


async def test_redis_unreachable_at_startup_fails_the_start(
    redis_server: RedisServer, tw_client: Client
) -> None:
    redis_server.kill()
    with pytest.raises(BackendUnavailable, match=r"cannot reach Redis at redis://127\.0\.0\.1:"):
        await tw_client(make_app(redis_server.url))


def test_the_backend_names_its_missing_package() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "import tidewire.server as s\n"
        "try:\n    s.RedisBackend('redis://127.0.0.1:1/0')\n"
        "except ImportError as e:\n    print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "pip install 'tidewire[redis]'" in done.stdout


async def wait_for(condition: Callable[[], Any], timeout: float = 15.0) -> float:
    """Seconds until ``condition()`` held (polled); fails the test after ``timeout``."""
    started = time.monotonic()
    while not await condition() if asyncio.iscoroutinefunction(condition) else not condition():
        assert time.monotonic() - started < timeout, "condition not met in time"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_redis_lost_then_back_publish_raises_then_flows_again(
    redis_server: RedisServer, tw_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="tidewire.server.hub")
    one = await tw_client(make_app(redis_server.url))
    two = await tw_client(make_app(redis_server.url))
    sender, receiver = await one.ws_connect("/ws"), await two.ws_connect("/ws")
    for ws in (sender, receiver):
        assert await ws.receive_str() == "subscribed"
    hub = one.app[hub_key]
    await sender.send_str("before")
    for ws in (sender, receiver):
        assert await messages(ws, 1) == ["before"]

    redis_server.kill()
    await wait_for(lambda: not hub.backend.connected and not two.app[hub_key].backend.connected)
    with pytest.raises(BackendUnavailable):
        await hub.publish("room", "lost")
    await sender.send_str("during")  # the app tells its user it went nowhere
    assert await sender.receive_str() == "undelivered: 'during'"
    late = await one.ws_connect("/ws")  # subscribing fails too, clearly
    closing = await asyncio.wait_for(late.receive(), 10)
    assert (closing.type, closing.data) == (WSMsgType.CLOSE, 1011)

    redis_server.start()
    await wait_for(lambda: hub.backend.connected and two.app[hub_key].backend.connected)
    await sender.send_str("after")
    assert await messages(receiver, 1) == ["after"]  # resubscribed: flowing again
    assert await messages(sender, 1) == ["after"]
    logged = [r.getMessage() for r in caplog.records]
    assert sum("lost Redis at" in line for line in logged) == 2  # each state change logged
    assert sum("reconnected to Redis at" in line for line in logged) == 2


async def numsub(url: str, topic: str) -> int:
    client = redis.asyncio.Redis.from_url(url)
    try:
        [(_, count)] = await client.pubsub_numsub(f"tidewire:{topic}")
        return int(count)
    finally:
        await client.aclose()


async def test_a_topic_is_unsubscribed_when_its_last_member_leaves_any_way(
    redis_server: RedisServer, tw_client: Client
) -> None:
    client = await tw_client(make_app(redis_server.url))
    hub: Hub = client.app[hub_key]
    ws = await client.ws_connect("/ws?topic=a")
    assert await ws.receive_str() == "subscribed"
    assert await numsub(redis_server.url, "a") == 1
    await ws.close()  # its handler unsubscribes
    await wait_for(lambda: not hub.subscribers("a"))
    assert await wait_for_async(lambda: numsub(redis_server.url, "a"), 0)

    hub.max_buffer = -1  # any unsent byte is too many: the next delivery drops it
    ws = await client.ws_connect("/ws?topic=b")
    assert await ws.receive_str() == "subscribed"
    [server_side] = hub.subscribers("b")
    server_side.abort()  # gone without unsubscribing: the hub finds it at delivery
    hub.deliver("b", "x")
    assert await wait_for_async(lambda: numsub(redis_server.url, "b"), 0)


async def wait_for_async(read: Callable[[], Awaitable[int]], wanted: int) -> bool:
    deadline = time.monotonic() + 10
    while (value := await read()) != wanted:
        assert time.monotonic() < deadline, f"still {value}, not {wanted}"
        await asyncio.sleep(0.05)
    return True


async def presence_news(ws: Any) -> dict[str, list[str]]:
    while True:
        msg = await asyncio.wait_for(ws.receive(), 20)
        assert msg.type is WSMsgType.TEXT, msg
        if msg.data.startswith('{"online"'):
            return dict(json.loads(msg.data))


async def test_presence_spans_processes_and_a_killed_process_leaves_it(
    processes: Any, session: ClientSession
) -> None:
    first, second = processes(2)  # the default presence_ttl (10 s)
    alice = await member(session, first.url, name="alice")
    bob = await member(session, second.url, name="bob")
    assert await presence_news(alice) == {
        "online": ["alice", "bob"],
        "joined": ["bob"],
        "left": [],
    }
    second.process.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    assert await presence_news(alice) == {"online": ["alice"], "joined": [], "left": ["bob"]}
    assert time.monotonic() - killed < 15
    await bob.close()
