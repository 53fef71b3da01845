"""A WebSocket echo server: the conformance suite's and the benchmarks' testee.

    python demos/echo.py --host 127.0.0.1 --port 9001 [--uvloop] [--metrics]

``/ws`` echoes text as text and binary as binary, with permessage-deflate on and no
message size limit; ``/`` answers "Hello, world" over plain HTTP. ``--metrics`` turns
on ``tidewire.server.metrics`` with ``/metrics`` (what ``bench/metrics_ab.py`` weighs).
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


def make_app(with_metrics: bool = False) -> Application:
    app = Application()
    app.router.add_get("/", hello)
    app.router.add_get("/ws", echo)
    if with_metrics:
        from tidewire.server import metrics  # noqa: PLC0415  # needs prometheus_client

        metrics.setup(app, path="/metrics")
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="tidewire WebSocket echo server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    parser.add_argument("--metrics", action="store_true", help="serve Prometheus /metrics")
    args = parser.parse_args()
    run_app(make_app(args.metrics), host=args.host, port=args.port, use_uvloop=args.uvloop or None)


if __name__ == "__main__":
    main()
