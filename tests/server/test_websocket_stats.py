"""The instrumentation hook: a ``MessageStats`` attached before the handshake counts
what crossed the socket, and keeps the last messages when asked to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tidewire.protocol import MessageStats, WSMsgType
from tidewire.server import Application, Hub, Request, StreamResponse, WebSocketResponse
from tidewire.server.testing import TestClient

Client = Callable[..., Awaitable[TestClient]]


async def test_stats_count_messages_and_bytes_each_way(tw_client: Client) -> None:
    seen: list[MessageStats] = []
    hub = Hub()

    async def attach(request: Request, response: StreamResponse) -> None:
        if isinstance(response, WebSocketResponse):
            response.stats = MessageStats(keep=3, truncate=4)
            seen.append(response.stats)

    async def echo(request: Request) -> WebSocketResponse:
        ws = WebSocketResponse()
        await ws.prepare(request)
        await hub.subscribe("t", ws)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await ws.send_str(msg.data.upper())
            else:
                hub.deliver("t", msg.data)
        return ws

    app = Application()
    app.on_response_prepare.append(attach)
    app.router.add_get("/ws", echo)
    client = await tw_client(app)
    ws = await client.ws_connect("/ws", compress=0)
    for word in ("alpha", "beta"):
        await ws.send_str(word)
        assert await ws.receive_str() == word.upper()
    await ws.send_bytes(b"0123456789")
    assert await ws.receive_bytes() == b"0123456789"
    await ws.close()
    [stats] = seen
    assert (stats.messages_in, stats.messages_out) == (3, 3)
    # client frames carry a 4-byte mask: 6 + payload each; ours 2 + payload
    assert stats.bytes_in >= (6 + 5) + (6 + 4) + (6 + 10)
    assert stats.bytes_out >= (2 + 5) + (2 + 4) + (2 + 10)
    assert stats.recent is not None
    assert list(stats.recent) == [(True, "BETA"), (False, b"0123"), (True, b"0123")]
    assert hub.delivered == 1
