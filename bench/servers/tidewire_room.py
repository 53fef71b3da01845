"""tidewire's broadcast room at /room for the fan-out rows (the echo, hello and
handshake rows run ``demos/echo.py`` itself): members subscribe to the server's
``Hub``, which frames a message once and writes the same bytes to every member.
With ``--redis URL`` the hub is on ``RedisBackend``, so the room spans every process
started with that URL; without it, the hub is in memory (this process only)."""

from __future__ import annotations

import sys
from pathlib import Path

from tidewire.protocol import WSMsgType
from tidewire.server import (
    Application,
    AppRunner,
    Hub,
    RedisBackend,
    Request,
    TCPSite,
    WebSocketResponse,
)

sys.path.insert(0, str(Path(__file__).parent))
from launch import run_server


async def room(request: Request) -> WebSocketResponse:
    """A "join" puts the socket in the room (answered "joined"); anything else is
    published to every member."""
    hub: Hub = request.app["hub"]
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


async def serve(host: str, port: int, redis: str | None = None) -> AppRunner:
    hub = Hub(RedisBackend(redis, prefix="tidewire-bench:")) if redis else Hub()
    await hub.start()
    app = Application()
    app["hub"] = hub
    app.router.add_get("/room", room)
    runner = AppRunner(app)
    await runner.setup()
    await TCPSite(runner, host, port).start()
    return runner


if __name__ == "__main__":
    run_server(serve, "tidewire broadcast room")
