"""tidewire's broadcast room at /room for the fan-out row (the echo, hello and
handshake rows run ``demos/echo.py`` itself): the message is framed once and the
same bytes are written to every member."""

from __future__ import annotations

import sys
from pathlib import Path

from tidewire.protocol import WSMsgType
from tidewire.server import Application, AppRunner, Request, TCPSite, WebSocketResponse

sys.path.insert(0, str(Path(__file__).parent))
from launch import run_server

members: set[WebSocketResponse] = set()


async def room(request: Request) -> WebSocketResponse:
    ws = WebSocketResponse(compress=False)
    await ws.prepare(request)
    try:
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            if msg.data == "join":
                members.add(ws)
                await ws.send_str("joined")
                continue
            frame = ws.connection.send_text(msg.data)
            for member in members:
                await member.send_prepared(frame)
    finally:
        members.discard(ws)
    return ws


async def serve(host: str, port: int) -> AppRunner:
    app = Application()
    app.router.add_get("/room", room)
    runner = AppRunner(app)
    await runner.setup()
    await TCPSite(runner, host, port).start()
    return runner


if __name__ == "__main__":
    run_server(serve, "tidewire broadcast room")
