"""The connection layer seen from a raw socket: keep-alive, pipelining, limits, deadlines,
malformed and smuggling requests, flow control, the upgrade hand-off."""

from __future__ import annotations

import asyncio
import logging

import pytest
from server_support import Serve, exchange, get, parse_responses, read_response

from tidewire.server import Application, Request, Response, StreamResponse


async def echo(request: Request) -> Response:
    return Response(body=await request.read())


async def hello(request: Request) -> Response:
    return Response(text="hello")


def make_app(**kwargs: object) -> Application:
    app = Application(**kwargs)  # type: ignore[arg-type]
    app.router.add_get("/", hello)
    app.router.add_post("/echo", echo)
    return app


async def test_keep_alive_serves_several_requests_on_one_connection(serve: Serve) -> None:
    server = await serve(make_app())
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    for _ in range(3):
        writer.write(get("/"))
        response = await read_response(reader)
        assert response.status == 200
        assert response.body == b"hello"
        assert "Connection" not in response.headers
    writer.close()


async def test_idle_keep_alive_connection_is_closed_after_the_timeout(serve: Serve) -> None:
    server = await serve(make_app(), keepalive_timeout=0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(get("/"))
    assert (await read_response(reader)).status == 200
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_pipelined_requests_are_answered_in_order(serve: Serve) -> None:
    async def slow(request: Request) -> Response:
        await asyncio.sleep(0.05)
        return Response(text="slow")

    app = make_app()
    app.router.add_get("/slow", slow)
    server = await serve(app)
    data = (
        get("/slow")
        + b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
        + get("/")
        + get("/slow", "Connection: close")
    )
    responses = parse_responses(await exchange(server.port, data))
    assert [r.body for r in responses] == [b"slow", b"abc", b"hello", b"slow"]


async def test_http10_closes_after_the_response_unless_keep_alive(serve: Serve) -> None:
    server = await serve(make_app())
    raw = await exchange(server.port, b"GET / HTTP/1.0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nConnection: close\r\n" in raw

    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    for _ in range(2):
        writer.write(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        response = await read_response(reader)
        assert response.headers["Connection"] == "keep-alive"
    writer.close()


async def test_streamed_response_to_http10_is_delimited_by_closing(serve: Serve) -> None:
    async def stream(request: Request) -> StreamResponse:
        response = StreamResponse()
        await response.prepare(request)
        await response.write(b"one,")
        await response.write(b"two")
        return response

    app = Application()
    app.router.add_get("/", stream)
    server = await serve(app)
    raw = await exchange(server.port, b"GET / HTTP/1.0\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in head
    assert body == b"one,two"


async def test_client_half_close_still_gets_the_response(serve: Serve) -> None:
    server = await serve(make_app())
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(get("/"))
    writer.write_eof()
    raw = await asyncio.wait_for(reader.read(), 5)
    assert parse_responses(raw)[0].body == b"hello"
    writer.close()


async def test_expect_continue_is_answered_when_the_handler_reads(serve: Serve) -> None:
    server = await serve(make_app())
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    )
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"hello")
    response = await read_response(reader)
    assert (response.status, response.body) == (200, b"hello")
    writer.close()


async def test_expect_continue_with_a_too_large_body_is_refused_early(serve: Serve) -> None:
    server = await serve(make_app(client_max_size=10))
    raw = await exchange(
        server.port,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n",
    )
    assert b"100 Continue" not in raw
    assert parse_responses(raw)[0].status == 413


async def test_unknown_expectation_is_417(serve: Serve) -> None:
    server = await serve(make_app())
    raw = await exchange(server.port, get("/", "Expect: teapot"))
    assert parse_responses(raw)[0].status == 417


async def test_content_length_over_client_max_size_is_413(serve: Serve) -> None:
    server = await serve(make_app(client_max_size=10))
    raw = await exchange(
        server.port, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n" + b"x" * 11
    )
    (response,) = parse_responses(raw)
    assert response.status == 413
    assert response.headers["Connection"] == "close"


async def test_chunked_body_over_client_max_size_is_413(serve: Serve) -> None:
    server = await serve(make_app(client_max_size=10))
    body = b"6\r\nxxxxxx\r\n6\r\nxxxxxx\r\n0\r\n\r\n"
    raw = await exchange(
        server.port,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + body,
    )
    assert [r.status for r in parse_responses(raw)] == [413]


async def test_chunked_body_within_the_limit_is_read(serve: Serve) -> None:
    server = await serve(make_app())
    body = b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    raw = await exchange(
        server.port,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n" + body,
    )
    assert parse_responses(raw)[0].body == b"abcde"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (get("/", *(f"X-{i}: v" for i in range(10))), 431),
        (get("/", "X-Big: " + "v" * 2000), 431),
        (get("/" + "a" * 600), 414),
    ],
    ids=["too-many-headers", "head-too-large", "target-too-long"],
)
async def test_head_limits(serve: Serve, request_bytes: bytes, status: int) -> None:
    server = await serve(make_app(), max_headers=5, max_head_size=1024, max_target_size=512)
    raw = await exchange(server.port, request_bytes)
    assert [r.status for r in parse_responses(raw)] == [status]


async def test_endless_header_is_cut_off_with_431(serve: Serve) -> None:
    server = await serve(make_app(), max_head_size=1024)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET / HTTP/1.1\r\nX-Endless: ")
    for _ in range(20):
        writer.write(b"v" * 512)
        await asyncio.sleep(0)
    raw = await asyncio.wait_for(reader.read(), 5)
    assert parse_responses(raw)[0].status == 431
    writer.close()


async def test_slow_head_gets_408_and_is_closed(serve: Serve) -> None:
    server = await serve(make_app(), head_timeout=0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n")
    for _ in range(3):
        await asyncio.sleep(0.1)
        writer.write(b"X-Drip: 1\r\n")
    raw = await asyncio.wait_for(reader.read(), 5)
    assert parse_responses(raw)[0].status == 408
    writer.close()


async def test_slow_head_after_a_request_gets_408_in_order(serve: Serve) -> None:
    server = await serve(make_app(), head_timeout=0.2)
    raw = await exchange(server.port, get("/") + b"GET / HTTP/1.1\r\nHost")
    assert [r.status for r in parse_responses(raw)] == [200, 408]


BAD_REQUESTS = {
    "garbage": (b"HELLO\r\n\r\n", 400),
    "bad-header-char": (b"GET / HTTP/1.1\r\nHost: a\x01b\r\n\r\n", 400),
    "bare-lf": (b"GET / HTTP/1.1\nHost: a\n\n", 400),
    "obs-fold": (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400),
    "bad-chunk-size": (
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
    ),
    "cl-and-te": (
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "duplicate-cl": (
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        400,
    ),
    "cl-list": (b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc", 400),
    "te-not-chunked": (
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabc",
        400,
    ),
    "te-chunked-not-last": (
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabc",
        400,
    ),
    "te-twice": (
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
        b"Transfer-Encoding: identity\r\n\r\n0\r\n\r\n",
        400,
    ),
    "te-in-http10": (
        b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "te-unsupported-coding": (
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        501,
    ),
    "space-before-colon": (
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length : 3\r\n\r\nabc",
        400,
    ),
}


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
async def test_bad_request_is_refused_and_closed_and_the_server_lives_on(
    serve: Serve, name: str
) -> None:
    request_bytes, status = BAD_REQUESTS[name]
    server = await serve(make_app())
    raw = await exchange(server.port, request_bytes + get("/"))
    responses = parse_responses(raw)
    assert [r.status for r in responses] == [status]
    assert responses[0].headers["Connection"] == "close"
    # the next client is served
    assert parse_responses(await exchange(server.port, get("/", "Connection: close")))[0].body == (
        b"hello"
    )


async def test_bad_request_after_a_good_one_is_answered_after_it(serve: Serve) -> None:
    server = await serve(make_app())
    raw = await exchange(server.port, get("/") + b"NOT HTTP\r\n\r\n")
    assert [r.status for r in parse_responses(raw)] == [200, 400]


async def test_handler_exception_is_500_without_details(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(request: Request) -> Response:
        raise RuntimeError("secret-detail")

    app = make_app()
    app.router.add_get("/broken", broken)
    server = await serve(app)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    with caplog.at_level(logging.ERROR, logger="tidewire.server"):
        writer.write(get("/broken"))
        response = await read_response(reader)
    assert response.status == 500
    assert b"secret-detail" not in response.body
    assert b"Traceback" not in response.body
    assert "secret-detail" in caplog.text
    writer.write(get("/"))  # the connection is still usable
    assert (await read_response(reader)).body == b"hello"
    writer.close()


async def test_handler_failing_after_prepare_closes_the_connection(serve: Serve) -> None:
    async def half(request: Request) -> StreamResponse:
        response = StreamResponse()
        await response.prepare(request)
        await response.write(b"partial")
        raise RuntimeError("boom")

    app = Application()
    app.router.add_get("/", half)
    server = await serve(app)
    raw = await exchange(server.port, get("/"))
    assert raw.startswith(b"HTTP/1.1 200 OK")
    assert b"partial" in raw
    assert b"500" not in raw
    assert not raw.endswith(b"0\r\n\r\n")  # no clean end of the chunked body


async def test_slow_reader_makes_write_wait(serve: Serve) -> None:
    finished = asyncio.Event()
    chunk = b"x" * 65536
    total_chunks = 1024  # 64 MiB: far more than socket buffers hold

    async def flood(request: Request) -> StreamResponse:
        response = StreamResponse()
        response.content_length = len(chunk) * total_chunks
        await response.prepare(request)
        for _ in range(total_chunks):
            await response.write(chunk)
        finished.set()
        return response

    app = Application()
    app.router.add_get("/", flood)
    server = await serve(app)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port, limit=2**20)
    writer.transport.pause_reading()
    writer.write(get("/", "Connection: close"))
    while not any(conn.writing_paused for conn in server.runner.server.connections):
        await asyncio.sleep(0.01)
    (conn,) = server.runner.server.connections
    assert conn.transport is not None
    assert conn.transport.get_write_buffer_size() < 2 * 1024 * 1024  # bounded, not 64 MiB
    assert not finished.is_set()  # the handler waits for the reader
    writer.transport.resume_reading()
    received = 0
    while data := await asyncio.wait_for(reader.read(2**20), 5):
        received += len(data)
    assert finished.is_set()
    head_size = received - len(chunk) * total_chunks
    assert 0 < head_size < 300
    writer.close()


async def test_unread_body_pauses_reading_until_the_handler_reads(serve: Serve) -> None:
    body_size = 8 * 1024 * 1024
    seen_paused = []

    async def lazy(request: Request) -> Response:
        transport = request.transport
        assert transport is not None
        for _ in range(200):
            if not transport.is_reading():
                break
            await asyncio.sleep(0.01)
        seen_paused.append(not transport.is_reading())
        return Response(text=str(len(await request.read())))

    app = Application(client_max_size=body_size)
    app.router.add_post("/", lazy)
    server = await serve(app, body_high_water=64 * 1024)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        f"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {body_size}\r\n\r\n".encode()
        + b"b" * body_size
    )
    response = await read_response(reader)
    assert response.body == str(body_size).encode()
    assert seen_paused == [True]
    writer.close()


class FakeUpgraded(asyncio.Protocol):
    """Stands for a WebSocket: records bytes and close calls."""

    def __init__(self, transport: asyncio.BaseTransport | None) -> None:
        self.transport = transport
        self.data = bytearray()
        self.codes: list[int] = []
        self.closed = asyncio.Event()
        self.received = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self.data += data
        self.received.set()

    async def close(self, *, code: int = 1000, message: bytes | str = b"") -> bool:
        self.codes.append(code)
        self.closed.set()
        if self.transport is not None:
            self.transport.close()
        return True


def upgrading_app(done: asyncio.Event | None = None) -> tuple[Application, list[FakeUpgraded]]:
    fakes: list[FakeUpgraded] = []

    async def upgrade(request: Request) -> StreamResponse:
        response = StreamResponse(status=101, headers={"Upgrade": "fake", "Connection": "Upgrade"})
        await response.prepare(request)
        fake = FakeUpgraded(request.transport)
        fakes.append(fake)
        fake.data += request.protocol.upgrade(fake)
        if done is not None:
            await done.wait()
        else:
            await fake.closed.wait()
        return response

    app = make_app()
    app.router.add_get("/up", upgrade)
    return app, fakes


UPGRADE = get("/up", "Upgrade: fake", "Connection: Upgrade")


async def test_upgrade_hands_over_the_socket_with_early_bytes(serve: Serve) -> None:
    done = asyncio.Event()
    app, fakes = upgrading_app(done)
    server = await serve(app)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(UPGRADE + b"EARLY")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"Content-Length" not in head
    assert b"Transfer-Encoding" not in head
    writer.write(b"LATER")
    (fake,) = fakes
    while bytes(fake.data) != b"EARLYLATER":
        fake.received.clear()
        await asyncio.wait_for(fake.received.wait(), 5)
    assert server.runner.server.upgraded == {fake}
    done.set()
    # the handler returned: the server closed the upgraded connection, wrote nothing more
    await asyncio.wait_for(fake.closed.wait(), 5)
    assert fake.codes == [1000]
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert server.runner.server.upgraded == set()
    writer.close()


async def test_refused_upgrade_answers_normally_and_closes(serve: Serve) -> None:
    server = await serve(make_app())
    raw = await exchange(server.port, get("/", "Upgrade: fake", "Connection: Upgrade") + b"junk")
    responses = parse_responses(raw)
    assert [(r.status, r.body) for r in responses] == [(200, b"hello")]
    assert responses[0].headers["Connection"] == "close"
