"""Each ``ClientTimeout`` budget raises its own error and never leaks the connection."""

from __future__ import annotations

import asyncio

import pytest
from client_servers import blackhole, raw_server, read_request, respond
from yarl import URL

from tidewire.client import (
    ClientSession,
    ClientTimeout,
    ConnectionTimeoutError,
    ServerTimeoutError,
    SocketTimeoutError,
    TCPConnector,
)

HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"


async def slow_head(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    await reader.read()  # never answers; returns when the client hangs up


async def slow_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    await respond(writer, HEAD + b"12345")
    await reader.read()


async def test_sock_read_on_the_head() -> None:
    async with raw_server(slow_head) as url, ClientSession() as session:
        with pytest.raises(SocketTimeoutError, match="reading data"):
            await session.get(url, timeout=ClientTimeout(sock_read=0.2))
        assert session.connector.in_use == 0 and session.connector.idle == 0


async def test_sock_read_on_the_body() -> None:
    async with (
        raw_server(slow_body) as url,
        ClientSession(timeout=ClientTimeout(sock_read=0.2)) as session,
    ):
        response = await session.get(url)
        assert await response.content.read(5) == b"12345"
        with pytest.raises(SocketTimeoutError):
            await response.read()
        assert session.connector.in_use == 0 and session.connector.idle == 0


async def test_sock_read_is_per_wait_not_per_request() -> None:
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await respond(writer, HEAD)
        for digit in b"0123456789":
            await asyncio.sleep(0.05)
            await respond(writer, bytes([digit]))

    async with raw_server(trickle) as url, ClientSession() as session:
        response = await session.get(url, timeout=ClientTimeout(sock_read=0.3))
        assert await response.read() == b"0123456789"


async def test_total_covers_the_body() -> None:
    async with raw_server(slow_body) as url, ClientSession() as session:
        response = await session.get(url, timeout=ClientTimeout(total=0.3))
        with pytest.raises(ServerTimeoutError, match="Total timeout"):
            await response.read()
        assert session.connector.in_use == 0 and session.connector.idle == 0


async def test_total_on_the_head_is_an_asyncio_timeout() -> None:
    async with (
        raw_server(slow_head) as url,
        ClientSession(timeout=ClientTimeout(total=0.2)) as session,
    ):
        with pytest.raises(asyncio.TimeoutError):
            await session.get(url)
        assert session.connector.in_use == 0


async def test_sock_connect() -> None:
    with blackhole() as url:
        async with ClientSession() as session:
            with pytest.raises(ConnectionTimeoutError, match="connect"):
                await session.get(url, timeout=ClientTimeout(sock_connect=0.2))
            assert session.connector.in_use == 0


async def test_connect_covers_the_wait_for_a_pool_slot(server: URL) -> None:
    async with ClientSession(connector=TCPConnector(limit=1)) as session:
        holder = await session.get(server / "big")  # body unread: holds the only slot
        with pytest.raises(ConnectionTimeoutError):
            await session.get(server / "hello", timeout=ClientTimeout(connect=0.2))
        holder.release()
        assert await (await session.get(server / "hello")).text() == "hello"
        assert session.connector.in_use == 0


async def test_total_bounds_a_stalled_upload(aio_server: URL) -> None:
    async def stalls():  # type: ignore[no-untyped-def]
        yield b"start"
        await asyncio.Event().wait()

    async with ClientSession() as session:
        with pytest.raises(ServerTimeoutError):
            await session.post(
                aio_server / "upload", data=stalls(), timeout=ClientTimeout(total=0.3)
            )
        assert session.connector.in_use == 0 and session.connector.idle == 0


async def test_user_cancellation_is_not_a_timeout() -> None:
    async with raw_server(slow_head) as url, ClientSession() as session:
        task = asyncio.ensure_future(session.get(url, timeout=ClientTimeout(total=10)))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert session.connector.in_use == 0 and session.connector.idle == 0
