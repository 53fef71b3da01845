"""WebSocketResponse inside the server: handshake answers, limits, timeouts,
heartbeat, backpressure and shutdown, seen from a client."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from server_support import Serve

from tidewire.client import WSServerHandshakeError
from tidewire.protocol import WebSocketTimeoutError, WSMsgType
from tidewire.protocol.frames import Opcode, build_frame
from tidewire.server import Application, Request, Response, WebSocketResponse, json_response
from tidewire.server.testing import TestClient

Client = Callable[..., Awaitable[TestClient]]
KEY = base64.b64encode(os.urandom(16)).decode()
UPGRADE = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": KEY,
}


def app_with(handler: Callable[[Request], Awaitable[Any]], **state: Any) -> Application:
    app = Application()
    app.router.add_route("*", "/ws", handler)
    app.router.add_get("/", lambda request: _hello())
    for key, value in state.items():
        app[key] = value
    return app


async def _hello() -> Response:
    return Response(text="still here")


def echo_handler(**options: Any) -> Callable[[Request], Awaitable[WebSocketResponse]]:
    async def handler(request: Request) -> WebSocketResponse:
        ws = WebSocketResponse(**options)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type is WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        request.app["seen"].append((ws.close_code, ws.exception()))
        return ws

    return handler


@pytest.mark.parametrize(
    ("method", "headers", "status", "answer_header"),
    [
        ("GET", {k: v for k, v in UPGRADE.items() if k != "Upgrade"}, 400, None),
        ("GET", {**UPGRADE, "Connection": "keep-alive"}, 400, None),
        ("POST", UPGRADE, 405, ("Allow", "GET")),
        ("GET", {**UPGRADE, "Sec-WebSocket-Version": "8"}, 426, ("Sec-WebSocket-Version", "13")),
        ("GET", {**UPGRADE, "Sec-WebSocket-Key": "c2hvcnQ="}, 400, None),
        ("GET", {**UPGRADE, "Origin": "http://evil.example"}, 403, None),
    ],
)
async def test_refused_upgrades_get_their_status(
    tw_client: Client,
    method: str,
    headers: dict[str, str],
    status: int,
    answer_header: tuple[str, str] | None,
) -> None:
    app = app_with(
        echo_handler(origin_check=lambda origin: origin != "http://evil.example"), seen=[]
    )
    client = await tw_client(app)
    async with client.request(method, "/ws", headers=headers) as resp:
        assert resp.status == status
        if answer_header is not None:
            assert resp.headers[answer_header[0]] == answer_header[1]
    async with client.get("/") as resp:  # the server keeps serving
        assert await resp.text() == "still here"


async def test_handshake_error_carries_status_and_headers(tw_client: Client) -> None:
    client = await tw_client(app_with(echo_handler(origin_check=lambda origin: False), seen=[]))
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/ws", origin="http://127.0.0.1")
    assert refused.value.status == 403
    assert refused.value.headers is not None and "Content-Type" in refused.value.headers


async def test_can_prepare_tells_without_answering(tw_client: Client) -> None:
    async def handler(request: Request) -> Response:
        ready = WebSocketResponse(protocols=("v2", "v1")).can_prepare(request)
        return json_response({"ok": ready.ok, "protocol": ready.protocol})

    client = await tw_client(app_with(handler))
    async with client.get("/ws") as plain:
        assert await plain.json() == {"ok": False, "protocol": None}
    headers = {**UPGRADE, "Sec-WebSocket-Protocol": "v1, v3"}
    async with client.get("/ws", headers=headers) as upgrade:
        assert await upgrade.json() == {"ok": True, "protocol": "v1"}


@pytest.mark.parametrize(("offered", "chosen"), [(("v1", "v2"), "v2"), (("v3",), None)])
async def test_subprotocol_follows_the_server_preference(
    tw_client: Client, offered: tuple[str, ...], chosen: str | None
) -> None:
    client = await tw_client(app_with(echo_handler(protocols=("v2", "v1")), seen=[]))
    async with client.ws_connect("/ws", protocols=offered) as ws:
        assert ws.protocol == chosen


async def test_too_big_message_closes_with_1009(tw_client: Client) -> None:
    seen: list[Any] = []
    client = await tw_client(app_with(echo_handler(max_msg_size=1024), seen=seen))
    async with client.ws_connect("/ws") as ws:
        await ws.send_bytes(b"x" * 1024)  # exactly the limit: fine
        assert await ws.receive_bytes() == b"x" * 1024
        await ws.send_bytes(b"x" * 1025)
        msg = await ws.receive()
        assert (msg.type, msg.data) == (WSMsgType.CLOSE, 1009)
    await asyncio.sleep(0.05)
    assert seen[0][0] == 1009


async def test_receive_timeout_raises_in_the_handler(tw_client: Client) -> None:
    async def handler(request: Request) -> WebSocketResponse:
        ws = WebSocketResponse(receive_timeout=0.1)
        await ws.prepare(request)
        try:
            await ws.receive()
        except asyncio.TimeoutError:
            await ws.send_str("timed out")
        await ws.close(code=4000)
        return ws

    client = await tw_client(app_with(handler))
    async with client.ws_connect("/ws") as ws:
        assert await ws.receive_str() == "timed out"
        assert (await ws.receive()).data == 4000


async def test_heartbeat_drops_a_peer_that_never_pongs(tw_client: Client) -> None:
    seen: list[Any] = []
    client = await tw_client(app_with(echo_handler(heartbeat=0.1), seen=seen))
    async with client.ws_connect("/ws", autoping=False) as ws:
        pings = 0
        async for msg in ws:
            assert msg.type is WSMsgType.PING
            pings += 1
        assert pings >= 1
    await asyncio.sleep(0.05)
    code, exc = seen[0]
    assert code == 1006
    assert isinstance(exc, WebSocketTimeoutError)


async def test_heartbeat_keeps_a_ponging_peer(tw_client: Client) -> None:
    client = await tw_client(app_with(echo_handler(heartbeat=0.05), seen=[]))
    async with client.ws_connect("/ws") as ws:
        await asyncio.sleep(0.4)  # several heartbeats, answered by autoping
        await ws.send_str("alive")
        assert await ws.receive_str() == "alive"


async def test_send_waits_for_a_slow_reader(tw_client: Client) -> None:
    chunk = b"x" * 65536
    sent: list[int] = []
    buffered: list[int] = []

    async def handler(request: Request) -> WebSocketResponse:
        ws = WebSocketResponse(compress=False)
        await ws.prepare(request)
        for i in range(400):  # 25 MiB: far more than socket buffers hold
            await ws.send_bytes(chunk)
            sent.append(i)
            buffered.append(ws.write_buffer_size)
        await ws.close()
        return ws

    client = await tw_client(app_with(handler))
    async with client.ws_connect("/ws", max_queue=1) as ws:
        await asyncio.sleep(0.3)  # the client is not reading
        assert len(sent) < 400  # the handler is parked in a send
        received = 0
        async for msg in ws:
            received += len(msg.data)
    assert received == 400 * len(chunk)
    assert max(buffered) <= 4 * len(chunk)  # never more than the high-water mark and a frame


async def test_drain_waits_for_a_slow_reader_and_fails_when_it_goes(tw_client: Client) -> None:
    # drain() is StreamResponse's; on a WebSocket it must watch the WebSocket's socket,
    # not the HTTP protocol that handed the socket over.
    events: list[str] = []
    filled = asyncio.Event()

    async def handler(request: Request) -> WebSocketResponse:
        ws = WebSocketResponse(compress=False)
        await ws.prepare(request)
        while not ws.writing_paused:  # write without waiting until the transport pauses us
            ws.write_frame(build_frame(Opcode.BINARY, b"x" * 65536, masked=False))
        filled.set()
        try:
            await ws.drain()
            events.append("drained")
        except ConnectionResetError:
            events.append("lost")
        return ws

    client = await tw_client(app_with(handler))
    ws = await client.ws_connect("/ws", max_queue=1)
    await asyncio.wait_for(filled.wait(), 5)
    await asyncio.sleep(0.2)
    assert events == []  # the client reads nothing: drain() still waits
    ws.abort()
    for _ in range(100):
        if events:
            break
        await asyncio.sleep(0.02)
    assert events == ["lost"]


async def test_shutdown_closes_websockets_with_1001(tw_client: Client) -> None:
    client = await tw_client(app_with(echo_handler(), seen=[]))
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("hi")
        assert await ws.receive_str() == "hi"
        reading = asyncio.ensure_future(ws.receive())
        await client.server.close()
        msg = await reading
        assert (msg.type, msg.data) == (WSMsgType.CLOSE, 1001)


async def test_a_handler_returning_early_closes_with_1000(tw_client: Client) -> None:
    async def handler(request: Request) -> WebSocketResponse:
        ws = WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str("bye")
        return ws

    client = await tw_client(app_with(handler))
    async with client.ws_connect("/ws") as ws:
        assert await ws.receive_str() == "bye"
        msg = await ws.receive()
        assert (msg.type, msg.data) == (WSMsgType.CLOSE, 1000)


async def test_frames_sent_with_the_upgrade_request_are_read(tw_client: Client) -> None:
    client = await tw_client(app_with(echo_handler(compress=False), seen=[]))
    url = client.make_url("/ws")
    reader, writer = await asyncio.open_connection(url.host, url.port)
    head = "".join(f"{k}: {v}\r\n" for k, v in UPGRADE.items())
    frame = build_frame(Opcode.TEXT, b"early", masked=True)
    writer.write(f"GET /ws HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode() + frame)
    answer = await reader.readuntil(b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 101")
    assert await reader.readexactly(7) == b"\x81\x05early"
    writer.close()


async def test_the_heartbeat_stops_once_the_peer_has_closed(serve: Serve) -> None:
    # The peer's close waits behind a message the handler is slow on. aiohttp's
    # close() answers no pings meanwhile: a heartbeat still running would call it dead
    # and turn its clean 1000 into 1006 on both sides.
    ended = asyncio.get_running_loop().create_future()

    async def slow(request: Request) -> WebSocketResponse:
        ws = WebSocketResponse(heartbeat=0.2)
        await ws.prepare(request)
        async for _ in ws:
            await asyncio.sleep(0.6)
        ended.set_result((ws.close_code, ws.exception()))
        return ws

    served = await serve(app_with(slow))
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{served.url}/ws")
        await ws.send_str("work")
        await asyncio.sleep(0.05)
        await asyncio.wait_for(ws.close(), 3)
        assert ws.close_code == 1000
    assert await asyncio.wait_for(ended, 3) == (1000, None)


async def test_cookies_set_before_prepare_go_out_with_the_101(tw_client: Client) -> None:
    async def handler(request: Request) -> WebSocketResponse:
        ws = WebSocketResponse()
        ws.set_cookie("session", "abc", httponly=True)
        ws.del_cookie("old")
        await ws.prepare(request)
        await ws.close()
        return ws

    client = await tw_client(app_with(handler))
    url = client.make_url("/ws")
    reader, writer = await asyncio.open_connection(url.host, url.port)
    head = "".join(f"{k}: {v}\r\n" for k, v in UPGRADE.items())
    writer.write(f"GET /ws HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode())
    answer = (await reader.readuntil(b"\r\n\r\n")).decode()
    writer.close()
    assert answer.startswith("HTTP/1.1 101")
    cookies = [line for line in answer.split("\r\n") if line.startswith("Set-Cookie: ")]
    assert len(cookies) == 2
    assert "session=abc" in cookies[0] and "HttpOnly" in cookies[0]
    assert 'old=""' in cookies[1] and "Max-Age=0" in cookies[1]


async def test_http_body_and_cookies_after_the_101_raise(tw_client: Client) -> None:
    errors: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()

    async def handler(request: Request) -> WebSocketResponse:
        ws = WebSocketResponse()
        with pytest.raises(RuntimeError, match="no HTTP body"):
            await ws.write(b"before prepare")
        with pytest.raises(RuntimeError, match="prepare"):
            await ws.write_eof()
        await ws.prepare(request)
        found = []
        for attempt in (
            ws.write(b"body"),
            ws.write_eof(b"last"),
        ):
            with pytest.raises(RuntimeError) as info:
                await attempt
            found.append(str(info.value))
        for call in (lambda: ws.set_cookie("a", "b"), lambda: ws.del_cookie("a")):
            with pytest.raises(RuntimeError) as info:
                call()
            found.append(str(info.value))
        await ws.send_str("still a WebSocket")
        await ws.write_eof()  # as in aiohttp: closes the WebSocket
        errors.set_result(found)
        return ws

    client = await tw_client(app_with(handler))
    async with client.ws_connect("/ws") as ws:
        assert await ws.receive_str() == "still a WebSocket"
        msg = await ws.receive()
        assert (msg.type, msg.data) == (WSMsgType.CLOSE, 1000)
    found = await asyncio.wait_for(errors, 5)
    assert [("no HTTP body" in e, "after prepare()" in e) for e in found] == [
        (True, False),
        (True, False),
        (False, True),
        (False, True),
    ]
