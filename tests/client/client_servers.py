"""Servers the client tests talk to: aiohttp's (well-behaved) and raw asyncio ones (not)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import socket
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web as aiohttp_web
from yarl import URL

RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-15)
    return compressor.compress(data) + compressor.flush()


def make_app(web: Any) -> Any:
    """The test routes, for aiohttp.web or tidewire.server (both speak aiohttp's API)."""

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(
            {
                "method": request.method,
                "path": request.path,
                "query": [list(item) for item in request.query.items()],
                "headers": dict(request.headers),
                "body": body.decode("latin-1"),
                "peer_port": request.transport.get_extra_info("peername")[1]
                if request.transport
                else None,
            }
        )

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for i in range(5):
            await response.write(f"part{i};".encode())
        await response.write_eof()
        return response

    async def compressed(request: web.Request) -> web.Response:
        data = b"compressed " * 1000
        encoding = request.match_info["encoding"]
        body = {
            "gzip": gzip.compress(data),
            "deflate": zlib.compress(data),
            "raw-deflate": _raw_deflate(data),
        }[encoding]
        header = "deflate" if encoding == "raw-deflate" else encoding
        return web.Response(body=body, headers={"Content-Encoding": header})

    async def redirect(request: web.Request) -> web.Response:
        status = int(request.match_info["status"])
        target = request.query.get("to", "/echo")
        return web.Response(status=status, headers={"Location": target}, text="moved")

    async def redirect_loop(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        return web.Response(status=302, headers={"Location": f"/loop/{n + 1}"})

    async def set_cookie(request: web.Request) -> web.Response:
        response = web.Response(text="set")
        response.set_cookie("session", "abc123")
        response.set_cookie("scoped", "only-here", path="/cookies/sub")
        response.set_cookie("tls", "tls-only", secure=True)
        return response

    async def del_cookie(request: web.Request) -> web.Response:
        response = web.Response(text="deleted")
        response.del_cookie("session")
        return response

    async def cookies(request: web.Request) -> web.Response:
        return web.json_response(dict(request.cookies))

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="status body")

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * (1024 * 1024))

    async def form(request: web.Request) -> web.Response:
        posted = await request.post()
        out: dict[str, object] = {}
        for name, value in posted.items():
            if isinstance(value, web.FileField):
                out[name] = {
                    "filename": value.filename,
                    "content_type": value.content_type,
                    "data": value.file.read().decode(),
                }
            else:
                out[name] = value
        return web.json_response(out)

    async def upload_stats(request: web.Request) -> web.Response:
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
        return web.json_response(
            {"size": size, "chunked": request.headers.get("Transfer-Encoding") == "chunked"}
        )

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            await ws.send_str(msg.data)
        return ws

    async def json_data(request: web.Request) -> web.Response:
        ctype = request.query.get("type", "application/json")  # ?type=... to vary it
        return web.json_response({"answer": 42, "text": "héllo"}, content_type=ctype)

    async def latin(request: web.Request) -> web.Response:
        return web.Response(
            body="café".encode("latin-1"), content_type="text/plain", charset="latin-1"
        )

    async def no_content(request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def close_after(request: web.Request) -> web.Response:
        return web.Response(text="bye", headers={"Connection": "close"})

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_route("*", "/echo/{tail:.*}", echo)
    app.router.add_get("/hello", hello)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/compressed/{encoding}", compressed)
    app.router.add_route("*", "/redirect/{status}", redirect)
    app.router.add_get("/loop/{n}", redirect_loop)
    app.router.add_get("/set-cookie", set_cookie)
    app.router.add_get("/del-cookie", del_cookie)
    app.router.add_get("/cookies", cookies)
    app.router.add_get("/cookies/sub", cookies)
    app.router.add_route("*", "/status/{code}", status)
    app.router.add_get("/big", big)
    app.router.add_post("/form", form)
    app.router.add_post("/upload", upload_stats)
    if hasattr(web, "WebSocketResponse"):
        app.router.add_get("/ws", websocket)
    app.router.add_get("/json", json_data)
    app.router.add_get("/latin", latin)
    app.router.add_get("/no-content", no_content)
    app.router.add_get("/close", close_after)
    return app


@contextlib.asynccontextmanager
async def aiohttp_server(ssl_context: object = None, web: Any = aiohttp_web) -> AsyncIterator[URL]:
    """Serve the test routes with ``web`` (aiohttp.web by default) on a free port."""
    runner = web.AppRunner(make_app(web))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    scheme = "https" if ssl_context is not None else "http"
    try:
        yield URL(f"{scheme}://127.0.0.1:{port}")
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def raw_server(handler: RawHandler) -> AsyncIterator[URL]:
    """A plain asyncio server, for servers that misbehave in ways aiohttp's cannot."""
    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            tasks.discard(task)

    srv = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield URL(f"http://127.0.0.1:{port}")
    finally:
        srv.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await srv.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request head (bodies are not used by the raw servers' clients)."""
    return await reader.readuntil(b"\r\n\r\n")


def json_body(text: str) -> object:
    return json.loads(text)


@contextlib.contextmanager
def blackhole() -> Iterator[URL]:
    """A port whose accept queue is full: a new connect neither succeeds nor fails."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):  # the kernel accepts backlog + 1 before it starts dropping SYNs
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        yield URL(f"http://127.0.0.1:{port}")
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def respond(writer: asyncio.StreamWriter, raw: bytes) -> None:
    writer.write(raw)
    await writer.drain()


def serve(raw: bytes, *, then_close: bool = True) -> RawHandler:
    """A handler answering one request with ``raw``, then closing or waiting for the client."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await respond(writer, raw)
        if not then_close:
            await reader.read()

    return handler
