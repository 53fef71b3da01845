"""tidewire's broadcast room at /room for the fan-out row (the echo, hello and
handshake rows run ``demos/echo.py`` itself): members subscribe to the server's
``Hub``, which frames a message once and writes the same bytes to every member."""

from __future__ import annotations

import sys
from pathlib import Path

from tidewire.protocol import WSMsgType
from tidewire.server import Application, AppRunner, Hub, Request, TCPSite, WebSocketResponse

sys.path.insert(0, str(Path(__file__).parent))
from launch import run_server

hub = Hub()


async def room(request: Request) -> WebSocketResponse:
    ws = WebSocketResponse(compress=False)
    await ws.prepare(request)
    try:
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            if msg.data == "join":
                await hub.subscribe("room", ws)
                await ws.send_str("joined")
                continue
            await hub.publish("room", msg.data)
    finally:
        await hub.unsubscribe("room", ws)
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
