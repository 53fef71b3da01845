"""websockets' and aiohttp's clients against tidewire's server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import websockets.asyncio.client as ws_client
from interop_peers import tidewire_server
from websockets.exceptions import ConnectionClosed

TEXTS = ["", "héllo wörld ✓", "x" * 70_000]
BLOBS = [b"", bytes(range(256)) * 300]


@pytest.fixture(params=[True, False], ids=["deflate", "plain"])
async def url(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, bool]]:
    async with tidewire_server(compress=request.param) as url:
        yield url, request.param


async def test_websockets_client(url: tuple[str, bool]) -> None:
    address, compress = url
    async with ws_client.connect(
        address,
        subprotocols=["chat.v1"],  # type: ignore[list-item]
        compression="deflate" if compress else None,
        max_size=None,
    ) as ws:
        assert ws.subprotocol == "chat.v1"
        assert bool(ws.protocol.extensions) == compress
        for message in [*TEXTS, *BLOBS]:
            await ws.send(message)
            assert await ws.recv() == message
        await ws.send(["frag", "ment", "ed"])  # three frames, one message
        assert await ws.recv() == "fragmented"
        await (await ws.ping(b"p"))  # our server's pong resolves their ping
        await ws.send("close:4001")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "bye")


async def test_websockets_client_closes(url: tuple[str, bool]) -> None:
    address, _ = url
    async with ws_client.connect(address) as ws:
        await ws.send("hi")
        assert await ws.recv() == "hi"
        await ws.close(code=4003, reason="client done")
    assert ws.close_code == 4003  # our server echoed the code


async def test_aiohttp_client(url: tuple[str, bool]) -> None:
    address, compress = url
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            address, protocols=("chat.v1",), compress=15 if compress else 0, autoping=False
        ) as ws,
    ):
        assert ws.protocol == "chat.v1"
        assert bool(ws.compress) == compress
        for text in TEXTS:
            await ws.send_str(text)
            assert await ws.receive_str() == text
        for blob in BLOBS:
            await ws.send_bytes(blob)
            assert await ws.receive_bytes() == blob
        await ws.send_str("ping")
        ping = await ws.receive()
        assert (ping.type, ping.data) == (aiohttp.WSMsgType.PING, b"hb")
        await ws.pong(ping.data)
        assert await ws.receive_str() == "ponged"
        await ws.ping(b"q")
        pong = await ws.receive()
        assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"q")
        await ws.send_str("close:4001")
        msg = await ws.receive()
        assert (msg.type, msg.data, msg.extra) == (aiohttp.WSMsgType.CLOSE, 4001, "bye")


async def test_aiohttp_client_closes(url: tuple[str, bool]) -> None:
    address, _ = url
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(address)
        await ws.send_str("hi")
        assert await ws.receive_str() == "hi"
        await ws.close(code=4004, message=b"bye now")
        assert ws.close_code == 4004
