"""The ``_upgrade`` contract ``ws_connect`` is built on: the session's one exchange
path, on a connection outside the pool that a 101 leaves to the upgraded protocol."""

from __future__ import annotations

import asyncio
import base64
import os

import pytest
from client_servers import raw_server, read_request
from multidict import CIMultiDict
from yarl import URL

from tidewire.client import BasicAuth, ClientSession, ClientTimeout, ServerTimeoutError
from tidewire.client.protocol import ConnectionKey


def ws_headers() -> CIMultiDict[str]:
    return CIMultiDict(
        {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
            "Sec-WebSocket-Version": "13",
        }
    )


class Collector(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = bytearray()
        self.got = asyncio.Event()
        self.lost = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self.data += data
        self.got.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()


async def test_101_hands_over_the_transport(aio_server: URL, session: ClientSession) -> None:
    url = aio_server.with_scheme("ws") / "ws"
    result = await session._upgrade(url, ws_headers(), timeout=ClientTimeout(total=5))
    assert result.status == 101
    assert result.headers["Upgrade"].lower() == "websocket"
    assert "Sec-WebSocket-Accept" in result.headers
    assert result.connection is not None
    assert result.url == url
    collector = Collector()
    transport, tail = result.connection.detach(collector)
    assert tail == b""
    # a masked text frame "hi": the aiohttp endpoint echoes it back unmasked
    mask = b"\x01\x02\x03\x04"
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"hi"))
    transport.write(b"\x81\x82" + mask + payload)
    await asyncio.wait_for(collector.got.wait(), 5)
    assert bytes(collector.data) == b"\x81\x02hi"
    transport.close()
    assert session.connector.in_use == 0 and session.connector.idle == 0


async def test_plain_route_returns_status_without_transport(
    server: URL, session: ClientSession
) -> None:
    result = await session._upgrade(
        server.with_scheme("ws") / "hello", ws_headers(), timeout=ClientTimeout(total=5)
    )
    assert result.status == 200
    assert result.connection is None
    assert result.body == b"hello"


async def test_refused_handshake_reports_4xx(server: URL, session: ClientSession) -> None:
    result = await session._upgrade(
        server.with_scheme("ws") / "status" / "403", ws_headers(), timeout=ClientTimeout(total=5)
    )
    assert (result.status, result.connection) == (403, None)


async def test_tail_and_sent_head() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSet-Cookie: a=b\r\n\r\n\x81\x02hi"
        )
        await writer.drain()
        await reader.read()

    async with (
        raw_server(handler) as url,
        ClientSession(headers={"X-Default": "yes"}, cookies={"c": "d"}) as session,
    ):
        result = await session._upgrade(
            url.with_scheme("ws") / "path" % {"q": "1"},
            ws_headers(),
            timeout=ClientTimeout(total=5),
            auth=BasicAuth("user", "pw"),
        )
        assert result.status == 101 and result.connection is not None
        transport, tail = result.connection.detach(Collector())
        assert tail == b"\x81\x02hi"
        transport.close()
    head = seen[0].decode()
    assert head.startswith("GET /path?q=1 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{url.port}\r\n" in head
    assert "X-Default: yes\r\n" in head
    assert "Cookie: c=d\r\n" in head
    assert f"Authorization: {BasicAuth('user', 'pw').encode()}\r\n" in head
    assert "Sec-WebSocket-Version: 13\r\n" in head


async def test_handshake_timeout_closes_the_socket() -> None:
    closed = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()  # returns when the client closes
        closed.set()

    async with raw_server(silent) as url, ClientSession() as session:
        with pytest.raises(ServerTimeoutError):
            await session._upgrade(
                url.with_scheme("ws"), ws_headers(), timeout=ClientTimeout(sock_read=0.2)
            )
        await asyncio.wait_for(closed.wait(), 5)


async def test_bytes_before_the_hand_over_wait_in_the_connection() -> None:
    # The socket is the connection's until detach: what arrives meanwhile (here, after
    # the 101 and after awaits of the caller) is handed over with it, not lost.
    go_on, written = asyncio.Event(), asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        )
        await writer.drain()
        await go_on.wait()
        writer.write(b"\x81\x05later")
        await writer.drain()
        written.set()
        await reader.read()

    async with raw_server(handler) as url, ClientSession() as session:
        result = await session._upgrade(url, ws_headers(), timeout=ClientTimeout(total=5))
        assert result.connection is not None
        go_on.set()
        await asyncio.wait_for(written.wait(), 5)
        await asyncio.sleep(0.1)  # the loopback delivers it meanwhile
        collector = Collector()
        transport, tail = result.connection.detach(collector)
        assert tail == b"\x81\x05later"
        assert transport.get_protocol() is collector
        transport.close()


async def test_an_end_before_the_hand_over_reaches_the_new_protocol() -> None:
    # The server closes right after its 101, before detach: the WebSocket started on
    # that socket must hear of it, or its receive() would wait for ever.
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade"
            b"\r\n\r\n\x81\x04last"
        )
        writer.close()

    async with raw_server(handler) as url, ClientSession() as session:
        result = await session._upgrade(url, ws_headers(), timeout=ClientTimeout(total=5))
        assert result.connection is not None
        await asyncio.sleep(0.1)  # the close arrives meanwhile
        collector = Collector()
        _, tail = result.connection.detach(collector)
        assert tail == b"\x81\x04last"  # what came before the end is kept
        await asyncio.wait_for(collector.lost.wait(), 2)


async def test_an_upgrade_without_tls_has_no_tls_option_in_its_key(
    aio_server: URL, session: ClientSession
) -> None:
    # One rule for requests and upgrades: ``ssl`` is part of the key only with TLS.
    result = await session._upgrade(
        aio_server.with_scheme("ws") / "ws", ws_headers(), timeout=ClientTimeout(total=5), ssl=False
    )
    assert result.status == 101 and result.connection is not None
    assert result.connection.key == ConnectionKey("127.0.0.1", aio_server.port or 0, False, None)
    result.connection.close()
