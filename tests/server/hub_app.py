"""A room server on a ``Hub`` over Redis, for the cross-process tests: run as a
script it is one server process; imported, ``make_app`` serves in the test's loop.

    python hub_app.py --redis URL [--port 0] [--ttl 10]

``/ws?topic=T&name=N`` subscribes to ``T`` (present as ``N`` when given) and answers
``subscribed``; each text or binary message a client sends is published to ``T``, and
one that could not be is answered ``undelivered: <text>``. Presence changes reach the
members as JSON text ``{"online": [...], "joined": [...], "left": [...]}``.
``/pid`` names the process that answered.
"""

from __future__ import annotations

import argparse
import json
import os

from tidewire.protocol import WSMsgType
from tidewire.server import (
    AppKey,
    Application,
    BackendUnavailable,
    Hub,
    PresenceChange,
    RedisBackend,
    Request,
    Response,
    WebSocketResponse,
    run_app,
)

hub_key = AppKey("hub", Hub)


def make_app(redis_url: str, *, presence_ttl: float = 10.0) -> Application:
    hub = Hub(RedisBackend(redis_url, presence_ttl=presence_ttl))

    async def tell(change: PresenceChange) -> None:
        news = {"online": change.online, "joined": change.joined, "left": change.left}
        hub.deliver(change.topic, json.dumps(news))

    hub.on_presence = tell

    async def socket(request: Request) -> WebSocketResponse:
        ws = WebSocketResponse()
        await ws.prepare(request)
        topic = request.query.get("topic", "room")
        try:
            await hub.subscribe(topic, ws, presence=request.query.get("name"))
        except BackendUnavailable as exc:
            await ws.close(code=1011, message=str(exc).encode()[:120])
            return ws
        await ws.send_str("subscribed")
        async for msg in ws:
            data = msg.data if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY) else None
            if data is None:
                continue
            try:
                await hub.publish(topic, data)
            except BackendUnavailable:
                await ws.send_str(f"undelivered: {data!r}")
        await hub.unsubscribe(topic, ws)
        return ws

    async def pid(request: Request) -> Response:
        return Response(text=str(os.getpid()))

    async def start(app: Application) -> None:
        await hub.start()

    async def close(app: Application) -> None:
        await hub.close()

    app = Application()
    app[hub_key] = hub
    app.on_startup.append(start)
    app.on_cleanup.append(close)
    app.router.add_get("/ws", socket)
    app.router.add_get("/pid", pid)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ttl", type=float, default=10.0)
    args = parser.parse_args()
    app = make_app(args.redis, presence_ttl=args.ttl)
    run_app(app, host="127.0.0.1", port=args.port, print=lambda line: print(line, flush=True))


if __name__ == "__main__":
    main()
