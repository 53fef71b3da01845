"""One client library under test, in its own process: ``clients.py NAME PORT --loop L``.

Each library is used the way its documentation shows (one connection, awaited sends
and receives), against the same echo server; prints a JSON object of
``row -> [value, unit]``: 64 B and 64 KiB echo messages per second with messages in
flight, and opening handshakes per second (connect, handshake, close).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

# (row, message size, messages in flight)
ECHO = [("echo 64 B", 64, 64), ("echo 64 KiB", 65536, 4)]


def echo_duration(duration: float, size: int) -> float:
    """Large messages are measured twice as long: fewer go by in a second, so a short
    run is at the mercy of one slow moment."""
    return duration * (2 if size >= 65536 else 1)


class Adapter:
    """What a run needs of a client library: connect, send bytes, receive bytes, close."""

    connect: Callable[[str], AbstractAsyncContextManager[Any]]
    send: Callable[[Any, bytes], Awaitable[None]]
    recv: Callable[[Any], Awaitable[Any]]


def tidewire_adapter() -> Adapter:
    from tidewire.client import ClientSession

    @asynccontextmanager
    async def connect(url: str) -> AsyncIterator[Any]:
        async with (
            ClientSession() as session,
            session.ws_connect(url, compress=0, max_msg_size=0) as ws,
        ):
            yield ws

    adapter = Adapter()
    adapter.connect = connect
    adapter.send = lambda ws, data: ws.send_bytes(data)
    adapter.recv = lambda ws: ws.receive_bytes()
    return adapter


def aiohttp_adapter() -> Adapter:
    import aiohttp

    @asynccontextmanager
    async def connect(url: str) -> AsyncIterator[Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(url, max_msg_size=0) as ws,
        ):
            yield ws

    adapter = Adapter()
    adapter.connect = connect
    adapter.send = lambda ws, data: ws.send_bytes(data)
    adapter.recv = lambda ws: ws.receive_bytes()
    return adapter


def websockets_adapter() -> Adapter:
    from websockets.asyncio.client import connect as ws_connect

    def connect(url: str) -> AbstractAsyncContextManager[Any]:
        return ws_connect(url, compression=None, max_size=None, ping_interval=None)

    adapter = Adapter()
    adapter.connect = connect
    adapter.send = lambda ws, data: ws.send(data)
    adapter.recv = lambda ws: ws.recv()
    return adapter


ADAPTERS = {
    "tidewire": tidewire_adapter,
    "aiohttp": aiohttp_adapter,
    "websockets": websockets_adapter,
}


async def echo_rate(
    lib: Adapter, url: str, size: int, window: int, warmup: float, duration: float
) -> float:
    payload = os.urandom(size)
    async with lib.connect(url) as ws:
        for _ in range(window):
            await lib.send(ws, payload)
        count = 0
        start = time.perf_counter()
        measured_from = start + warmup
        counted_at = 0
        while True:
            await lib.recv(ws)
            count += 1
            now = time.perf_counter()
            if not counted_at and now >= measured_from:
                counted_at, count = count, 0
                start = now
            elif counted_at and now - start >= duration:
                break
            await lib.send(ws, payload)
        for _ in range(window - 1):
            await lib.recv(ws)
    return count / (now - start)


async def handshake_rate(lib: Adapter, url: str, duration: float) -> float:
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < duration:
        async with lib.connect(url):
            pass
        count += 1
    return count / (time.perf_counter() - start)


async def main(args: argparse.Namespace) -> None:
    lib = ADAPTERS[args.name]()
    url = f"ws://127.0.0.1:{args.port}/ws"
    result: dict[str, tuple[float, str]] = {}
    for row, size, window in ECHO:
        duration = echo_duration(args.duration, size)
        rate = await echo_rate(lib, url, size, window, args.warmup, duration)
        result[row] = (rate, "msg/s")
    result["handshakes"] = (await handshake_rate(lib, url, args.duration), "/s")
    print(json.dumps(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(ADAPTERS))
    parser.add_argument("port", type=int)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--duration", type=float, default=0.6)
    parser.add_argument("--warmup", type=float, default=0.2)
    arguments = parser.parse_args()
    if arguments.loop == "uvloop":
        import uvloop

        uvloop.run(main(arguments))
    else:
        asyncio.run(main(arguments))
