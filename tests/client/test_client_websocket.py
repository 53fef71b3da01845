"""ws_connect: the handshake's failures and timeouts, limits, heartbeat and headers,
against aiohttp's and tidewire's servers and against raw misbehaving ones."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from client_servers import aiohttp_server, raw_server, read_request, respond
from yarl import URL

from tidewire.client import (
    BasicAuth,
    ClientSession,
    CookieJar,
    ServerTimeoutError,
    WSMsgType,
    WSServerHandshakeError,
)
from tidewire.protocol import WebSocketTimeoutError
from tidewire.protocol.handshake import accept_key


async def test_echo_and_a_clean_close(server: URL, session: ClientSession) -> None:
    async with session.ws_connect(server.with_scheme("ws") / "ws") as ws:
        await ws.send_str("hello")
        assert await ws.receive_str() == "hello"
    assert ws.closed and ws.close_code == 1000


@pytest.mark.parametrize(("path", "status"), [("hello", 200), ("status/404", 404)])
async def test_a_refused_handshake_carries_the_status(
    server: URL, session: ClientSession, path: str, status: int
) -> None:
    with pytest.raises(WSServerHandshakeError) as refused:
        await session.ws_connect(server / path)
    assert refused.value.status == status
    assert refused.value.headers is not None


async def test_a_silent_server_times_the_handshake_out() -> None:
    closed = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()  # returns once the client gave up and closed
        closed.set()

    async with raw_server(silent) as url, ClientSession() as session:
        with pytest.raises(ServerTimeoutError):
            await session.ws_connect(url / "ws", timeout=0.2)
        await asyncio.wait_for(closed.wait(), 5)  # the socket was not leaked


def _answer_101(key_header: bytes, extra: str = "", accept: str | None = None) -> bytes:
    key = re.search(rb"Sec-WebSocket-Key: (\S+)", key_header)
    assert key is not None
    accept = accept if accept is not None else accept_key(key.group(1).decode())
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n{extra}\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("extra", "accept", "complaint"),
    [
        ("", base64.b64encode(b"x" * 20).decode(), "Accept"),
        ("Sec-WebSocket-Protocol: not-offered\r\n", None, "subprotocol"),
        ("Sec-WebSocket-Extensions: x-unknown\r\n", None, "extension"),
        (
            "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=99\r\n",
            None,
            "max_window_bits",
        ),
    ],
)
async def test_a_wrong_101_is_refused(extra: str, accept: str | None, complaint: str) -> None:
    async def liar(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await respond(writer, _answer_101(await read_request(reader), extra, accept))
        await reader.read()

    async with raw_server(liar) as url, ClientSession() as session:
        with pytest.raises(WSServerHandshakeError, match=complaint) as refused:
            await session.ws_connect(url / "ws", protocols=("chat",))
        assert refused.value.status == 101


@pytest.mark.parametrize("compress", [-1, 7, 16])
async def test_a_deflate_window_out_of_range_is_refused_before_connecting(compress: int) -> None:
    async with ClientSession() as session:
        with pytest.raises(ValueError, match="compress"):
            # nothing listens there: the error must come before any connection attempt
            session.ws_connect("ws://127.0.0.1:9/ws", compress=compress)


async def test_a_message_over_the_limit_closes_with_1009(server: URL) -> None:
    async with ClientSession() as session:
        ws = await session.ws_connect(server / "ws", max_msg_size=1000)
        await ws.send_str("x" * 1000)
        assert await ws.receive_str() == "x" * 1000
        await ws.send_str("x" * 1001)  # the server echoes it: too big for us
        msg = await ws.receive()
        assert msg.type is WSMsgType.ERROR
        assert ws.close_code == 1009
        assert (await ws.receive()).type is WSMsgType.CLOSED


@contextlib.asynccontextmanager
async def aiohttp_ws(handler: web.RequestHandler) -> AsyncIterator[URL]:  # type: ignore[type-arg]
    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield URL(f"http://127.0.0.1:{runner.addresses[0][1]}/ws")
    finally:
        await runner.cleanup()


async def test_no_limit_with_max_msg_size_0() -> None:
    big = "y" * (5 * 1024 * 1024)  # over the 4 MiB default

    async def generous(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(big)
        await ws.close()
        return ws

    async with aiohttp_ws(generous) as url, ClientSession() as session:
        async with session.ws_connect(url, max_msg_size=0) as ws:
            assert await ws.receive_str() == big
        async with session.ws_connect(url) as ws:
            assert (await ws.receive()).type is WSMsgType.ERROR
            assert ws.close_code == 1009


async def test_heartbeat_fails_a_server_that_never_pongs() -> None:
    async def deaf(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)  # pings reach the handler, unanswered
        await ws.prepare(request)
        async for _ in ws:
            pass
        return ws

    async with aiohttp_ws(deaf) as url, ClientSession() as session:
        ws = await session.ws_connect(url, heartbeat=0.1)
        msg = await ws.receive()
        assert msg.type is WSMsgType.ERROR
        assert isinstance(msg.data, WebSocketTimeoutError)
        assert ws.close_code == 1006
        await ws.close()


async def test_heartbeat_keeps_a_live_connection(server: URL, session: ClientSession) -> None:
    async with session.ws_connect(server / "ws", heartbeat=0.05) as ws:
        await asyncio.sleep(0.3)
        await ws.send_str("still")
        assert await ws.receive_str() == "still"


async def test_headers_auth_and_origin_reach_the_server() -> None:
    async def tell(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(json.dumps(dict(request.headers)))
        await ws.close()
        return ws

    async with (
        aiohttp_ws(tell) as url,
        ClientSession(headers={"X-Session": "s"}) as session,
        session.ws_connect(
            url, headers={"X-Token": "t"}, auth=BasicAuth("user", "pass"), origin="http://o.test"
        ) as ws,
    ):
        seen = json.loads(await ws.receive_str())
    assert seen["X-Token"] == "t"
    assert seen["X-Session"] == "s"
    assert seen["Origin"] == "http://o.test"
    assert BasicAuth.decode(seen["Authorization"]) == BasicAuth("user", "pass")


async def _switch(writer: asyncio.StreamWriter, head: bytes) -> None:
    """Answer the upgrade request ``head`` with a valid 101."""
    match = re.search(rb"Sec-WebSocket-Key: (\S+)", head)
    assert match is not None
    await respond(
        writer,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade"
        + f"\r\nSec-WebSocket-Accept: {accept_key(match.group(1).decode())}\r\n\r\n".encode(),
    )


def _upgrading(heads: list[str], *, then: Callable[[], Awaitable[None]] | None = None) -> Any:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_request(reader)
        heads.append(head.decode("latin-1"))
        await _switch(writer, head)
        while await reader.read(65536):
            pass
        if then is not None:
            await then()

    return handler


def _header(head: str, name: str) -> str | None:
    found = re.search(rf"^{name}: ?(.*)\r$", head, re.M | re.I)
    return None if found is None else found.group(1)


async def test_a_relative_ws_connect_sends_host_and_cookies_of_the_base_url() -> None:
    heads: list[str] = []
    async with raw_server(_upgrading(heads)) as url:
        jar = CookieJar(unsafe=True)
        jar.update_cookies({"sid": "abc"}, url)
        async with ClientSession(base_url=url, cookie_jar=jar) as session:
            ws = await session.ws_connect("/ws", timeout=2, close_timeout=0.1)
            assert ws.closed is False
            await asyncio.wait_for(ws.close(), 2)
    assert _header(heads[0], "Host") == f"127.0.0.1:{url.port}"
    assert _header(heads[0], "Cookie") == "sid=abc"


async def test_closing_the_session_closes_its_websockets() -> None:
    ended = asyncio.Event()

    async def set_ended() -> None:
        ended.set()

    async with raw_server(_upgrading([], then=set_ended)) as url:
        session = ClientSession()
        ws = await session.ws_connect(url.with_scheme("ws") / "ws", close_timeout=0.1)
        await session.close()
        assert ws.closed
        await asyncio.wait_for(ended.wait(), 1)  # the server saw the socket close


async def test_a_cancelled_session_close_still_closes_the_pool() -> None:
    # A shutdown bounding its clean-up: the WebSocket's peer never answers the close.
    async with raw_server(_upgrading([])) as ws_url, aiohttp_server() as http_url:
        session = ClientSession()
        async with session.get(http_url / "echo") as response:
            await response.read()
        assert session.connector.idle == 1
        ws = await session.ws_connect(ws_url.with_scheme("ws") / "ws", close_timeout=5)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(session.close(), 0.3)
        assert (session.connector.closed, session.connector.idle) == (True, 0)
        ws.abort()


async def test_a_handshake_that_ends_after_the_session_closed_leaves_no_websocket() -> None:
    # session.close() ran while the 101 was on its way: nobody would close that socket.
    asked, answer, ended = asyncio.Event(), asyncio.Event(), asyncio.Event()
    received = bytearray()

    async def late(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_request(reader)
        asked.set()
        await answer.wait()
        await _switch(writer, head)
        while data := await reader.read(65536):
            received.extend(data)
        ended.set()

    async with raw_server(late) as url:
        session = ClientSession()
        connecting = asyncio.ensure_future(
            session.ws_connect(url.with_scheme("ws") / "ws", close_timeout=0.2)
        )
        await asyncio.wait_for(asked.wait(), 2)
        await session.close()
        answer.set()
        with pytest.raises(RuntimeError, match="closed"):
            await asyncio.wait_for(connecting, 2)
        await asyncio.wait_for(ended.wait(), 2)  # the socket was closed, not leaked
    # a masked close frame whose code is 1001 (going away), as for the session's others
    assert received[:1] == b"\x88"
    mask, payload = received[2:6], received[6:8]
    assert bytes(b ^ mask[i] for i, b in enumerate(payload)) == (1001).to_bytes(2, "big")
