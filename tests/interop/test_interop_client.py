"""tidewire's client against websockets', aiohttp's and tidewire's own servers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from interop_peers import PARTS, aiohttp_server, tidewire_server, websockets_server

from tidewire.client import ClientSession, ClientWebSocketResponse
from tidewire.protocol import WSMsgType

SERVERS = {"websockets": websockets_server, "aiohttp": aiohttp_server, "tidewire": tidewire_server}
TEXTS = ["", "héllo wörld ✓", "x" * 70_000]
BLOBS = [b"", bytes(range(256)) * 300]


@pytest.fixture(params=[(p, c) for p in SERVERS for c in (True, False)], ids=str)
async def ws(request: pytest.FixtureRequest) -> AsyncIterator[ClientWebSocketResponse]:
    peer, compress = request.param
    async with (
        SERVERS[peer](compress=compress) as url,
        ClientSession() as session,
        session.ws_connect(url, protocols=("chat.v1",), autoping=False) as ws,
    ):
        assert (ws.connection.deflate is not None) == compress
        yield ws


async def test_subprotocol_is_negotiated(ws: ClientWebSocketResponse) -> None:
    assert ws.protocol == "chat.v1"


async def test_text_and_binary_round_trip(ws: ClientWebSocketResponse) -> None:
    for text in TEXTS:
        await ws.send_str(text)
        assert await ws.receive_str() == text
    for blob in BLOBS:
        await ws.send_bytes(blob)
        assert await ws.receive_bytes() == blob


@pytest.mark.parametrize("compress", [True, False])
async def test_fragmented_message_from_server(compress: bool) -> None:
    """Only websockets' server API sends a message as several frames."""
    async with (
        websockets_server(compress=compress) as url,
        ClientSession() as session,
        session.ws_connect(url, protocols=("chat.v1",)) as ws,
    ):
        await ws.send_str("frag:3")
        assert await ws.receive_str() == "".join(PARTS)


async def test_server_ping_gets_our_pong(ws: ClientWebSocketResponse) -> None:
    await ws.send_str("ping")
    msg = await ws.receive()
    if msg.type is WSMsgType.PING:  # autoping=False: we see it and answer ourselves
        assert msg.data == b"hb"
        await ws.pong(msg.data)
        msg = await ws.receive()
    assert (msg.type, msg.data) == (WSMsgType.TEXT, "ponged")


async def test_our_ping_gets_their_pong(ws: ClientWebSocketResponse) -> None:
    await ws.ping(b"are you there")
    msg = await ws.receive()
    assert (msg.type, msg.data) == (WSMsgType.PONG, b"are you there")


async def test_server_close_code_and_reason(ws: ClientWebSocketResponse) -> None:
    await ws.send_str("close:4001")
    msg = await ws.receive()
    assert (msg.type, msg.data, msg.extra) == (WSMsgType.CLOSE, 4001, "bye")
    assert (await ws.receive()).type is WSMsgType.CLOSED
    assert ws.close_code == 4001


async def test_client_close_code(ws: ClientWebSocketResponse) -> None:
    assert await ws.close(code=4002, message="done")
    assert ws.closed
    assert ws.close_code == 4002
    assert (await ws.receive()).type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
