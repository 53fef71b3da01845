"""Requests that end in unusual ways: an answer that fails as it is sent, an upload
answered before it arrived, a body cut short by a half-close, pipelined requests
before a half-close, an Upgrade the application does not take, and the signals and
codings spread over a sub-application or several header lines.
"""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import pytest
from server_support import Serve, exchange, get, parse_responses

from tidewire.server import Application, HTTPBadRequest, Request, Response, StreamResponse


async def echo(request: Request) -> Response:
    return Response(body=await request.read())


async def ok(request: Request) -> Response:
    return Response(text="ok")


async def _raise(request: Request, response: StreamResponse) -> None:
    raise RuntimeError("the signal failed")


async def _header_with_a_newline(request: Request) -> Response:
    return Response(text="x", headers={"X-Echo": "a\r\nInjected: 1"})


async def test_a_response_that_cannot_be_sent_becomes_a_500(serve: Serve) -> None:
    app = Application()
    app.router.add_get("/bad-header", _header_with_a_newline)
    app.router.add_get("/ok", ok)
    signalled = Application()
    signalled.router.add_get("/", ok)
    signalled.on_response_prepare.append(_raise)
    for served, path in ((await serve(app), "/bad-header"), (await serve(signalled), "/")):
        raw = await exchange(served.port, get(path) + get("/ok"), timeout=3)
        (response,) = parse_responses(raw)  # then the connection closes
        assert response.status == 500
        assert response.headers["Connection"] == "close"
        assert b"Injected" not in raw


async def test_an_upload_answered_before_it_arrived_gets_the_answer(serve: Serve) -> None:
    # curl and requests send the whole body before they read: closing with its rest
    # unread would reset the connection and destroy the 403 on its way.
    async def reject(request: Request) -> Response:
        return Response(status=403, text="forbidden")

    app = Application(client_max_size=None)
    app.router.add_post("/upload", reject)
    served = await serve(app)
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    size = 2 * 1024 * 1024
    writer.write(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % size)
    for _ in range(size // 65536):
        writer.write(b"x" * 65536)
        await asyncio.wait_for(writer.drain(), 5)
    received = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    (response,) = parse_responses(received)
    assert (response.status, response.headers["Connection"]) == (403, "close")


async def test_a_body_cut_short_by_a_half_close_fails_its_read_with_400(serve: Serve) -> None:
    read: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()

    async def reading(request: Request) -> Response:
        try:
            return Response(body=await request.read())
        except BaseException as exc:
            read.set_result(exc)
            raise

    app = Application()
    app.router.add_post("/", reading)
    served = await serve(app)
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
    writer.write_eof()  # the other 7 bytes never come
    assert isinstance(await asyncio.wait_for(read, 3), HTTPBadRequest)
    (response,) = parse_responses(await asyncio.wait_for(reader.read(), 3))
    writer.close()
    assert (response.status, response.body) == (400, b"400: the request body ended early")


async def test_pipelined_requests_before_a_half_close_are_all_answered(serve: Serve) -> None:
    async def path(request: Request) -> Response:
        await asyncio.sleep(0.05)
        return Response(text=request.path)

    app = Application()
    app.router.add_get("/{n}", path)
    served = await serve(app)
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(get("/1") + get("/2") + get("/3"))
    writer.write_eof()  # printf '...' | nc
    raw = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert [r.body for r in parse_responses(raw)] == [b"/1", b"/2", b"/3"]


@pytest.mark.parametrize("size", [5, 300_000])
async def test_an_upgrade_request_not_upgraded_keeps_its_body(serve: Serve, size: int) -> None:
    # curl --http2 on an http:// URL asks for h2c: llhttp skips the body of any
    # Upgrade request, for the new protocol; an application that does not switch
    # still reads it (the larger one passes the body stream's high-water mark).
    app = Application(client_max_size=None)
    app.router.add_post("/echo", echo)
    served = await serve(app)
    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    raw = await exchange(
        served.port,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (size, body),
        timeout=5,
    )
    (response,) = parse_responses(raw)
    assert (response.status, response.body) == (200, body)


async def test_bytes_after_an_upgrade_not_taken_yet_are_bounded(serve: Serve) -> None:
    buffered: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def slow(request: Request) -> Response:
        await asyncio.sleep(1)
        buffer = request.protocol._upgrade_buffer  # type: ignore[attr-defined]
        buffered.set_result(len(buffer or b""))
        return Response(text="done")

    app = Application()
    app.router.add_get("/slow", slow)
    served = await serve(app)
    _, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(b"GET /slow HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\n")
    with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
        for _ in range(512):  # 32 MiB, if the server kept reading
            writer.write(b"x" * 65536)
            await asyncio.wait_for(writer.drain(), 0.5)
    assert await asyncio.wait_for(buffered, 3) <= 1024 * 1024
    writer.close()


async def test_the_roots_response_signal_runs_for_a_sub_application(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    async def mark(request: Request, response: StreamResponse) -> None:
        response.headers["X-Root"] = "yes"

    root = Application()
    root.on_response_prepare.append(mark)
    sub = Application()
    sub.router.add_get("/x", ok)
    root.add_subapp("/sub", sub)
    served = await serve(root)
    async with http.get(served.url + "/sub/x") as response:
        assert (response.status, response.headers.get("X-Root")) == (200, "yes")


async def test_an_unsupported_coding_over_two_header_lines_is_501(serve: Serve) -> None:
    app = Application()
    app.router.add_post("/echo", echo)
    served = await serve(app)
    raw = await exchange(
        served.port,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        timeout=3,
    )
    assert parse_responses(raw)[0].status == 501
