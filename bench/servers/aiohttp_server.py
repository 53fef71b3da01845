"""aiohttp's idiomatic servers: WebSocket echo at /ws, "Hello, world" at /, and a
broadcast room at /room (an awaited ``send_str`` per receiver, as aiohttp's docs do)."""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import WSMsgType, web

sys.path.insert(0, str(Path(__file__).parent))
from launch import run_server


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="Hello, world")


async def echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(max_msg_size=0, compress=False)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type is WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


async def room(request: web.Request) -> web.WebSocketResponse:
    """A "join" puts the socket in the room (answered "joined"); anything else is
    published to every member."""
    members: set[web.WebSocketResponse] = request.app["members"]
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    try:
        async for msg in ws:
            if msg.data == "join":
                members.add(ws)
                await ws.send_str("joined")
                continue
            for member in members:
                await member.send_str(msg.data)
    finally:
        members.discard(ws)
    return ws


async def serve(host: str, port: int) -> web.AppRunner:
    app = web.Application()
    app["members"] = set()
    app.router.add_get("/", hello)
    app.router.add_get("/ws", echo)
    app.router.add_get("/room", room)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=4096).start()
    return runner


if __name__ == "__main__":
    run_server(serve, "aiohttp echo, hello and broadcast room")
