"""aiohttp's idiomatic servers: WebSocket echo at /ws, "Hello, world" at /, and a
broadcast room at /room (an awaited ``send_str`` per receiver, as aiohttp's docs do).

With ``--redis URL`` the room spans every process started with that URL, the
straightforward way: the process SUBSCRIBEs to the room's channel with redis-py's
asyncio client, a member's message is PUBLISHed there, and each message that arrives
is sent to the local members with an awaited ``send_str`` each."""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
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
    published to every member (``app["publish"]``)."""
    members: set[web.WebSocketResponse] = request.app["members"]
    publish: Callable[[str], Awaitable[object]] = request.app["publish"]
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    try:
        async for msg in ws:
            if msg.data == "join":
                members.add(ws)
                await ws.send_str("joined")
                continue
            await publish(msg.data)
    finally:
        members.discard(ws)
    return ws


async def broadcast(members: set[web.WebSocketResponse], text: str) -> None:
    for member in list(members):  # a member may leave while we await
        try:
            await member.send_str(text)
        except ConnectionResetError:  # it is closing
            members.discard(member)


CHANNEL = "aiohttp-bench:room"


async def deliver(app: web.Application) -> None:
    """Every message PUBLISHed to the room, by any process, to the members here."""
    async for message in app["pubsub"].listen():
        if message["type"] == "message":
            await broadcast(app["members"], message["data"].decode())


def redis_context(url: str) -> Callable[[web.Application], AsyncIterator[None]]:
    """The ``cleanup_ctx`` that holds the Redis connections and the delivering task."""

    async def subscribed(app: web.Application) -> AsyncIterator[None]:
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(url)
        app["pubsub"] = client.pubsub()
        await app["pubsub"].subscribe(CHANNEL)
        app["publish"] = functools.partial(client.publish, CHANNEL)
        task = asyncio.get_running_loop().create_task(deliver(app))
        yield
        task.cancel()
        await app["pubsub"].aclose()
        await client.aclose()

    return subscribed


async def serve(host: str, port: int, redis: str | None = None) -> web.AppRunner:
    app = web.Application()
    app["members"] = set()
    app["publish"] = functools.partial(broadcast, app["members"])
    app.router.add_get("/", hello)
    app.router.add_get("/ws", echo)
    app.router.add_get("/room", room)
    if redis:  # the room spans processes: publish to Redis, deliver what it sends
        app.cleanup_ctx.append(redis_context(redis))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=4096).start()
    return runner


if __name__ == "__main__":
    run_server(serve, "aiohttp echo, hello and broadcast room")
