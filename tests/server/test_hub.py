"""The publish/subscribe hub: frames shared per compression setting, slow readers
dropped without slowing the others, topics watched through the backend."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tidewire.protocol import WSMsgType
from tidewire.server import (
    Application,
    Hub,
    MemoryBackend,
    PresenceChange,
    Request,
    WebSocketResponse,
)
from tidewire.server.testing import TestClient

Client = Callable[..., Awaitable[TestClient]]


def hub_app(hub: Hub, ended: list[tuple[int | None, str]] | None = None) -> Application:
    """``/ws?nct=1`` subscribes to "room" with server_no_context_takeover; ``ended``
    gets the server side's close code and reason of each connection."""

    async def handler(request: Request) -> WebSocketResponse:
        ws = WebSocketResponse(server_no_context_takeover="nct" in request.query)
        await ws.prepare(request)
        await hub.subscribe("room", ws)
        await ws.send_str("subscribed")
        async for _ in ws:
            pass
        await hub.unsubscribe("room", ws)
        if ended is not None:
            ended.append((ws.close_code, ws.close_reason))
        return ws

    app = Application()
    app.router.add_get("/ws", handler)
    return app


async def connect(client: TestClient, path: str, **kwargs: Any) -> Any:
    ws = await client.ws_connect(path, **kwargs)
    assert await ws.receive_str() == "subscribed"
    return ws


@pytest.mark.parametrize(
    ("paths", "frames"),
    [
        (["/ws"] * 3, 1),  # nobody compresses: one frame for all
        (["/ws?nct=1"] * 3, 1),  # all compress without context: one compressed frame
        (["/ws", "/ws?nct=1", "/ws?nct=1"], 2),  # one plain frame, one compressed
        (["/ws", "/ws?nct=1", "/ws?x", "/ws?y"], 4),  # context takeover: a frame each
    ],
)
async def test_one_frame_per_group_that_shares_bytes(
    tw_client: Client, paths: list[str], frames: int
) -> None:
    hub = Hub()
    client = await tw_client(hub_app(hub))
    plain = {"compress": 0}
    sockets = [await connect(client, path, **(plain if path == "/ws" else {})) for path in paths]
    message = "news for everyone " * 10  # long enough to be compressed
    assert hub.deliver("room", message) == frames
    for ws in sockets:
        assert await ws.receive_str() == message
    assert hub.deliver("room", b"\x00\x01") >= 1
    for ws in sockets:
        assert await ws.receive_bytes() == b"\x00\x01"
        await ws.close()


class Recording(MemoryBackend):
    """The in-process backend, noting what the hub asks of it."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, str]] = []
        self.unwatched = asyncio.Event()

    async def publish(self, topic: str, data: str | bytes) -> None:
        self.events.append(("publish", topic))
        await super().publish(topic, data)

    async def watch(self, topic: str) -> None:
        self.events.append(("watch", topic))

    async def unwatch(self, topic: str) -> None:
        self.events.append(("unwatch", topic))
        self.unwatched.set()


async def test_publish_goes_through_the_backend(tw_client: Client) -> None:
    backend = Recording()
    hub = Hub(backend)
    client = await tw_client(hub_app(hub))
    first, second = [await connect(client, "/ws") for _ in range(2)]
    await hub.publish("room", "hello")
    assert await first.receive_str() == "hello"
    assert await second.receive_str() == "hello"
    await first.close()
    await second.close()
    await asyncio.wait_for(backend.unwatched.wait(), 10)
    assert backend.events == [("watch", "room"), ("publish", "room"), ("unwatch", "room")]


async def test_a_topic_whose_last_subscriber_was_dropped_is_unwatched(
    tw_client: Client,
) -> None:
    backend = Recording()
    hub = Hub(backend, max_buffer=-1)  # any unsent byte at all counts as too many
    client = await tw_client(hub_app(hub))
    ws = await connect(client, "/ws")
    await hub.publish("room", "lost")  # drops the only subscriber
    assert hub.dropped == 1
    closing = await ws.receive()  # nothing was queued ahead of it: the close arrives
    assert (closing.type, closing.data) == (WSMsgType.CLOSE, 1008)
    assert closing.extra == "too slow: stopped reading the messages"
    await asyncio.wait_for(backend.unwatched.wait(), 10)  # its handler unsubscribed
    assert backend.events == [("watch", "room"), ("publish", "room"), ("unwatch", "room")]


async def test_a_slow_subscriber_is_dropped_and_the_others_get_everything(
    tw_client: Client,
) -> None:
    hub = Hub(max_buffer=256 * 1024)
    ended: list[tuple[int | None, str]] = []
    client = await tw_client(hub_app(hub, ended))
    fast = await connect(client, "/ws", compress=0)
    slow = await connect(client, "/ws", compress=0, max_queue=1)  # stops reading soon
    chunk = b"x" * 65536
    received = 0

    async def read_fast() -> None:
        nonlocal received
        while received < 400 * len(chunk):
            received += len(await fast.receive_bytes())

    reader = asyncio.ensure_future(read_fast())
    for _ in range(400):  # 25 MiB, far more than the slow one's socket buffers hold
        hub.deliver("room", chunk)
        await asyncio.sleep(0)  # let the fast reader run, as a real publisher would
    await asyncio.wait_for(reader, 30)
    assert received == 400 * len(chunk)
    assert hub.dropped == 1
    assert len(hub.subscribers("room")) == 1
    while (await slow.receive()).type is WSMsgType.BINARY:
        pass  # what had arrived before the drop; then the connection is gone
    assert slow.close_code == 1006  # our close frame was lost with the unread bytes
    assert ended == [(1006, "too slow: stopped reading the messages")]  # the server knows why
    await fast.close()


async def test_a_burst_of_publishes_keeps_its_order_with_direct_sends(tw_client: Client) -> None:
    hub = Hub()
    client = await tw_client(hub_app(hub))
    ws = await connect(client, "/ws", compress=0)
    [server_side] = hub.subscribers("room")
    hub.deliver("room", "one")  # held to the end of this loop turn, with what follows
    await server_side.send_str("direct")
    hub.deliver("room", "two")
    assert [await ws.receive_str() for _ in range(3)] == ["one", "direct", "two"]
    await ws.close()


async def test_presence_counts_a_name_once_and_tells_each_change(tw_client: Client) -> None:
    changes: list[PresenceChange] = []

    async def record(change: PresenceChange) -> None:
        changes.append(change)

    hub = Hub(on_presence=record)

    async def handler(request: Request) -> WebSocketResponse:
        ws = WebSocketResponse()
        await ws.prepare(request)
        await hub.subscribe("room", ws, presence=request.query.get("name"))
        await ws.send_str("subscribed")
        async for _ in ws:
            pass
        await hub.unsubscribe("room", ws)
        return ws

    app = Application()
    app.router.add_get("/ws", handler)
    client = await tw_client(app)
    observer = await connect(client, "/ws")  # subscribed without a name: not present
    alice = await connect(client, "/ws?name=alice")
    bob = await connect(client, "/ws?name=bob", compress=0)  # share key None
    alice_again = await connect(client, "/ws?name=alice")  # another tab: no news
    assert await hub.presence("room") == ("alice", "bob")
    await alice.close()  # alice is still there in her other tab
    await bob.close()
    await asyncio.wait_for(_until(lambda: len(changes) >= 3), 10)
    hub.subscribers("room")[-1].abort()  # alice's last tab, gone without unsubscribing
    hub.deliver("room", "x")  # finds it closed: she leaves
    await asyncio.wait_for(_until(lambda: len(changes) >= 4), 10)
    assert changes == [
        PresenceChange("room", ("alice",), ("alice",), ()),
        PresenceChange("room", ("alice", "bob"), ("bob",), ()),
        PresenceChange("room", ("alice",), (), ("bob",)),
        PresenceChange("room", (), (), ("alice",)),
    ]
    assert await hub.presence("room") == ()
    assert await observer.receive_str() == "x"
    await observer.close()
    await alice_again.close()


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)


async def test_a_failing_on_presence_is_logged_and_the_subscriber_stays(
    tw_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(change: PresenceChange) -> None:
        raise RuntimeError("the application's bug")

    hub = Hub(on_presence=broken)

    async def handler(request: Request) -> WebSocketResponse:
        ws = WebSocketResponse()
        await ws.prepare(request)
        await hub.subscribe("room", ws, presence="alice")
        await ws.send_str("subscribed")
        async for _ in ws:
            pass
        return ws

    app = Application()
    app.router.add_get("/ws", handler)
    client = await tw_client(app)
    ws = await connect(client, "/ws")
    await hub.publish("room", "still here")
    assert await ws.receive_str() == "still here"
    assert "on_presence failed for 'room'" in caplog.text
    assert "the application's bug" in caplog.text
    await ws.close()
