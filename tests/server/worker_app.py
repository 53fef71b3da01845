"""The application the worker tests serve under gunicorn and ``python -m tidewire.server``.

``/pid`` says which process answered, ``/loop`` which event loop runs it, ``/ws`` echoes
(and answers ``pid``), ``/boom`` fails (a line in the error log), ``/block`` blocks the
event loop for five seconds, ``/slow`` sends its
head at once and ends its body a second later, so a test knows it is in flight when it
signals the server. The module offers
the application in every shape a loader takes, and a few shapes it must refuse.
"""

from __future__ import annotations

import asyncio
import os
import time

from tidewire.server import (
    Application,
    Request,
    Response,
    RouteTableDef,
    StreamResponse,
    WebSocketResponse,
)

routes = RouteTableDef()


@routes.get("/pid")
async def pid(request: Request) -> Response:
    return Response(text=str(os.getpid()))


@routes.get("/loop")
async def loop(request: Request) -> Response:
    return Response(text=type(asyncio.get_running_loop()).__module__.partition(".")[0])


@routes.get("/block")
async def block(request: Request) -> Response:
    time.sleep(5)  # the loop stands still: no heartbeat for the arbiter meanwhile
    return Response(text="unblocked")


@routes.get("/boom")
async def boom(request: Request) -> Response:
    raise RuntimeError("boom")


@routes.get("/slow")
async def slow(request: Request) -> StreamResponse:
    response = StreamResponse()
    response.content_type = "text/plain"
    await response.prepare(request)
    await response.write(b"started\n")
    await asyncio.sleep(1.0)
    await response.write(b"done\n")
    return response


@routes.get("/ws")
async def echo(request: Request) -> WebSocketResponse:
    ws = WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        text = str(msg.data)
        await ws.send_str(str(os.getpid()) if text == "pid" else text)
    return ws


def make_app() -> Application:
    app = Application()
    app.add_routes(routes)
    return app


async def make_app_async() -> Application:
    await asyncio.sleep(0)  # runs in the server's loop
    return make_app()


app = make_app()

NOT_AN_APP = 42


def returns_none() -> None:
    return None


def needs_arguments(config: str) -> Application:
    return make_app()
