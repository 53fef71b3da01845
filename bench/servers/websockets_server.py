"""websockets' servers: echo at /ws and a broadcast room at /room (with
``websockets.broadcast``, its documented fan-out); no keepalive pings, no size limit."""

from __future__ import annotations

import sys
from pathlib import Path

import websockets
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve

sys.path.insert(0, str(Path(__file__).parent))
from launch import run_server

members: set[ServerConnection] = set()


async def handler(ws: ServerConnection) -> None:
    assert ws.request is not None
    if ws.request.path == "/room":
        try:
            async for message in ws:
                if message == "join":
                    members.add(ws)
                    await ws.send("joined")
                else:
                    websockets.broadcast(members, message)
        finally:
            members.discard(ws)
        return
    async for message in ws:
        await ws.send(message)


async def serve(host: str, port: int) -> object:
    return await ws_serve(
        handler, host, port, max_size=None, ping_interval=None, compression=None, backlog=4096
    )


if __name__ == "__main__":
    run_server(serve, "websockets echo and broadcast room")
