"""A WebSocket echo server: the conformance suite's and the benchmarks' testee.

    python demos/echo.py --host 127.0.0.1 --port 9001 [--uvloop]

``/ws`` echoes text as text and binary as binary, with permessage-deflate on and no
message size limit; ``/`` answers "Hello, world" over plain HTTP.
"""

from __future__ import annotations

import argparse

from tidewire.protocol import WSMsgType
from tidewire.server import Application, Request, Response, WebSocketResponse, run_app


async def hello(request: Request) -> Response:
    return Response(text="Hello, world")


async def echo(request: Request) -> WebSocketResponse:
    ws = WebSocketResponse(max_msg_size=0)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type is WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


def make_app() -> Application:
    app = Application()
    app.router.add_get("/", hello)
    app.router.add_get("/ws", echo)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="tidewire WebSocket echo server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = parser.parse_args()
    run_app(make_app(), host=args.host, port=args.port, use_uvloop=args.uvloop or None)


if __name__ == "__main__":
    main()
