"""The connection pool: reuse, limits, fair queueing, expiry, dead connections."""

from __future__ import annotations

import asyncio

import pytest
from client_servers import raw_server, read_request, respond
from yarl import URL

from tidewire.client import ClientSession, ClientTimeout, ServerDisconnectedError, TCPConnector

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


async def peer_port(session: ClientSession, url: URL) -> int:
    response = await session.get(url / "echo")
    port: int = (await response.json())["peer_port"]
    return port


async def test_keep_alive_reuses_one_connection(server: URL, session: ClientSession) -> None:
    ports = {await peer_port(session, server) for _ in range(5)}
    assert len(ports) == 1
    assert session.connector.idle == 1


async def test_unread_body_is_not_reused(server: URL, session: ClientSession) -> None:
    first = await peer_port(session, server)
    response = await session.get(server / "big")
    response.release()  # most of the megabyte is still on the wire
    assert session.connector.idle == 0
    assert await peer_port(session, server) != first


async def test_fully_buffered_body_is_reused_before_it_is_read(
    server: URL, session: ClientSession
) -> None:
    first = await peer_port(session, server)
    async with session.get(server / "hello") as response:
        await asyncio.sleep(0.05)  # the body has arrived but nobody read it
        assert session.connector.idle == 1
        assert await response.text() == "hello"
    assert await peer_port(session, server) == first


async def test_connection_close_is_honoured(server: URL, session: ClientSession) -> None:
    assert await (await session.get(server / "close")).text() == "bye"
    assert session.connector.idle == 0


async def test_force_close(server: URL) -> None:
    async with ClientSession(connector=TCPConnector(force_close=True)) as session:
        assert await peer_port(session, server) != await peer_port(session, server)
        assert session.connector.idle == 0


async def test_idle_connections_expire(server: URL) -> None:
    connector = TCPConnector(keepalive_timeout=0.1)
    async with ClientSession(connector=connector) as session:
        first = await peer_port(session, server)
        assert connector.idle == 1
        await asyncio.sleep(0.3)
        assert connector.idle == 0  # swept without any request asking
        assert await peer_port(session, server) != first


async def test_server_closing_an_idle_connection_is_noticed() -> None:
    async def one_shot(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await respond(writer, OK)  # then close, as a server with a short keep-alive does

    async with raw_server(one_shot) as url, ClientSession() as session:
        assert await (await session.get(url)).text() == "ok"
        await asyncio.sleep(0.1)
        assert session.connector.idle == 0
        assert await (await session.get(url)).text() == "ok"


async def test_idempotent_request_retried_once_on_a_dead_reused_connection() -> None:
    served = 0

    async def answers_then_drops(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal served
        await read_request(reader)
        served += 1
        await respond(writer, OK)
        await read_request(reader)  # the second request on this connection is dropped

    async with raw_server(answers_then_drops) as url, ClientSession() as session:
        assert await (await session.get(url)).text() == "ok"
        assert await (await session.get(url)).text() == "ok"  # retried on a new socket
        assert served == 2
        with pytest.raises(ServerDisconnectedError):
            await session.post(url, data=b"not idempotent")


async def test_disconnect_on_a_new_connection_is_not_retried() -> None:
    attempts = 0

    async def drops(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1
        await read_request(reader)

    async with raw_server(drops) as url, ClientSession() as session:
        with pytest.raises(ServerDisconnectedError):
            await session.get(url)
        assert attempts == 1


async def test_per_host_limit_queues_in_order(server: URL) -> None:
    connector = TCPConnector(limit_per_host=1)
    async with ClientSession(connector=connector) as session:
        holder = await session.get(server / "big")
        order: list[int] = []

        async def fetch(i: int) -> None:
            async with session.get(server / "hello") as response:
                order.append(i)
                await response.read()

        tasks = [asyncio.create_task(fetch(i)) for i in range(4)]
        await asyncio.sleep(0.1)
        assert order == []  # all queued behind the holder
        holder.release()
        await asyncio.gather(*tasks)
        assert order == [0, 1, 2, 3]
        assert connector.in_use == 0


async def test_per_host_limit_does_not_block_other_hosts(server: URL) -> None:
    connector = TCPConnector(limit_per_host=1)
    other = server.with_host("localhost")
    async with ClientSession(connector=connector) as session:
        holder = await session.get(server / "big")
        response = await asyncio.wait_for(session.get(other / "hello"), 5)
        assert await response.text() == "hello"
        holder.release()


async def test_total_limit(server: URL) -> None:
    connector = TCPConnector(limit=2)
    other = server.with_host("localhost")
    async with ClientSession(connector=connector) as session:
        holders = [await session.get(server / "big"), await session.get(other / "big")]
        waiting = asyncio.ensure_future(session.get(server / "hello"))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        assert connector.in_use == 2
        holders[1].release()
        assert await (await waiting).text() == "hello"
        holders[0].release()
        assert connector.in_use == 0


async def test_cancelled_waiter_gives_its_place_up(server: URL) -> None:
    connector = TCPConnector(limit=1)
    async with ClientSession(connector=connector) as session:
        holder = await session.get(server / "big")
        cancelled = asyncio.ensure_future(session.get(server / "hello"))
        waiting = asyncio.ensure_future(session.get(server / "hello"))
        await asyncio.sleep(0.05)
        cancelled.cancel()
        holder.release()
        assert await (await asyncio.wait_for(waiting, 5)).text() == "hello"
        assert connector.in_use == 0


async def test_many_concurrent_requests_share_a_small_pool(server: URL) -> None:
    connector = TCPConnector(limit=3)
    async with ClientSession(connector=connector) as session:

        async def fetch() -> str:
            async with session.get(server / "hello") as response:
                return await response.text()

        assert await asyncio.gather(*(fetch() for _ in range(30))) == ["hello"] * 30
        assert connector.in_use == 0
        assert connector.idle <= 3


async def test_shared_connector_outlives_a_session(server: URL) -> None:
    connector = TCPConnector()
    async with ClientSession(connector=connector, connector_owner=False) as session:
        await (await session.get(server / "hello")).read()
    assert not connector.closed and connector.idle == 1
    await connector.close()


async def _keep_alive_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    bodies = {b"/big": b"x" * 400_000, b"/small": b"small"}
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        body = bodies[head.split(b" ")[1]]
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()


async def test_a_connection_whose_large_body_went_unread_serves_the_next_request() -> None:
    # The body filled the reader past its high-water mark, so reading was paused,
    # then all of it arrived: the connection goes back to the pool reading again.
    async with raw_server(_keep_alive_server) as url, ClientSession() as session:
        async with session.get(url / "big") as response:
            assert response.status == 200
            for _ in range(100):
                if response.content.is_eof():
                    break
                await asyncio.sleep(0.01)
        async with session.get(url / "small", timeout=ClientTimeout(total=2)) as response:
            assert await response.read() == b"small"
        assert session.connector.in_use == 0
