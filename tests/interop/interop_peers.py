"""The same echo WebSocket served by tidewire, websockets and aiohttp.

Every server speaks one tiny command language, so one set of interop tests drives
them all: text and binary are echoed, ``close:CODE`` closes with that code and the
reason "bye", ``frag:N`` answers with N fragments of one message (where the server
can send fragments), and ``ping`` makes the server ping and answer "ponged" once the
pong came back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import websockets.asyncio.server as ws_server
from aiohttp import WSMsgType as AioMsgType
from aiohttp import web as aio_web

from tidewire.protocol import WSMsgType
from tidewire.server import Application, AppRunner, Request, TCPSite, WebSocketResponse

PROTOCOLS = ("chat.v2", "chat.v1")
PARTS = ("fragment-a ", "fragment-b ", "fragment-c")


def command(text: str) -> tuple[str, str]:
    name, _, arg = text.partition(":")
    return name, arg


@contextlib.asynccontextmanager
async def tidewire_server(*, compress: bool) -> AsyncIterator[str]:
    async def handler(request: Request) -> WebSocketResponse:
        ws = WebSocketResponse(protocols=PROTOCOLS, compress=compress)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
                continue
            name, arg = command(msg.data)
            if name == "close":
                await ws.close(code=int(arg), message="bye")
            elif name == "ping":
                await ws.ping(b"hb")
                await ws.send_str("ponged")  # autoping hides the pong; see the aiohttp peer
            else:
                await ws.send_str(msg.data)
        return ws

    app = Application()
    app.router.add_get("/ws", handler)
    runner = AppRunner(app)
    await runner.setup()
    site = TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"ws://127.0.0.1:{site.port}/ws"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def websockets_server(*, compress: bool) -> AsyncIterator[str]:
    async def handler(ws: ws_server.ServerConnection) -> None:
        async for data in ws:
            if isinstance(data, bytes):
                await ws.send(data)
                continue
            name, arg = command(data)
            if name == "close":
                await ws.close(code=int(arg), reason="bye")
            elif name == "frag":
                await ws.send(PARTS[: int(arg)])
            elif name == "ping":
                await (await ws.ping(b"hb"))
                await ws.send("ponged")
            else:
                await ws.send(data)

    async with ws_server.serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=list(PROTOCOLS),  # type: ignore[arg-type]
        compression="deflate" if compress else None,
        max_size=None,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws"


@contextlib.asynccontextmanager
async def aiohttp_server(*, compress: bool) -> AsyncIterator[str]:
    async def handler(request: aio_web.Request) -> aio_web.WebSocketResponse:
        ws = aio_web.WebSocketResponse(protocols=PROTOCOLS, compress=compress, autoping=False)
        await ws.prepare(request)
        pong = asyncio.Event()
        async for msg in ws:
            if msg.type is AioMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type is AioMsgType.PONG:
                pong.set()
            elif msg.type is AioMsgType.BINARY:
                await ws.send_bytes(msg.data)
            elif msg.type is AioMsgType.TEXT:
                name, arg = command(msg.data)
                if name == "close":
                    await ws.close(code=int(arg), message=b"bye")
                elif name == "ping":
                    await ws.ping(b"hb")
                    asyncio.get_running_loop().create_task(_after(pong, ws))
                else:
                    await ws.send_str(msg.data)
        return ws

    async def _after(pong: asyncio.Event, ws: aio_web.WebSocketResponse) -> None:
        await pong.wait()
        await ws.send_str("ponged")

    app = aio_web.Application()
    app.router.add_get("/ws", handler)
    runner = aio_web.AppRunner(app)
    await runner.setup()
    site = aio_web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        await runner.cleanup()
