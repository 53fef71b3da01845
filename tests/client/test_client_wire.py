"""Response framing and coding: chunked, compressed, read-to-close, broken servers."""

from __future__ import annotations

import asyncio
import zlib

import pytest
from client_servers import raw_server, read_request, respond, serve
from yarl import URL

from tidewire.client import (
    ClientPayloadError,
    ClientResponseError,
    ClientSession,
    ServerDisconnectedError,
)

DATA = b"compressed " * 1000


async def test_chunked(server: URL, session: ClientSession) -> None:
    response = await session.get(server / "chunked")
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert await response.read() == b"part0;part1;part2;part3;part4;"
    assert session.connector.idle == 1


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
async def test_compressed_bodies_are_decoded(
    server: URL, session: ClientSession, encoding: str
) -> None:
    response = await session.get(server / "compressed" / encoding)
    assert await response.read() == DATA


async def test_auto_decompress_off(server: URL) -> None:
    async with ClientSession(auto_decompress=False) as session:
        response = await session.get(server / "compressed" / "deflate")
        assert zlib.decompress(await response.read()) == DATA


async def test_large_body_with_backpressure(server: URL, session: ClientSession) -> None:
    async with session.get(server / "big") as response:
        await asyncio.sleep(0.1)  # let the buffer fill to its high-water mark
        assert len(await response.read()) == 1024 * 1024
    assert session.connector.idle == 1


async def test_body_until_close() -> None:
    handler = serve(b"HTTP/1.1 200 OK\r\n\r\nuntil the end")
    async with raw_server(handler) as url, ClientSession() as session:
        response = await session.get(url)
        assert await response.read() == b"until the end"
        assert session.connector.idle == 0


async def test_http_10_is_not_kept_alive() -> None:
    handler = serve(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", then_close=False)
    async with raw_server(handler) as url, ClientSession() as session:
        assert await (await session.get(url)).text() == "ok"
        assert session.connector.idle == 0


async def test_truncated_content_length_body() -> None:
    handler = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
    async with raw_server(handler) as url, ClientSession() as session:
        response = await session.get(url)
        with pytest.raises(ClientPayloadError, match="not completed"):
            await response.read()
        assert session.connector.in_use == 0 and session.connector.idle == 0


@pytest.mark.parametrize(
    "chunks", [b"5\r\nhello\r\n", b"zz\r\nhello\r\n"], ids=["truncated", "bad-size"]
)
async def test_broken_chunked_body(chunks: bytes) -> None:
    handler = serve(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
    async with raw_server(handler) as url, ClientSession() as session:
        response = await session.get(url)
        with pytest.raises(ClientPayloadError):
            await response.read()
        assert session.connector.in_use == 0


async def test_corrupt_gzip() -> None:
    body = b"definitely not gzip"
    handler = serve(
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
        % (len(body), body)
    )
    async with raw_server(handler) as url, ClientSession() as session:
        response = await session.get(url)
        with pytest.raises(ClientPayloadError, match="content encoding"):
            await response.read()
        assert session.connector.in_use == 0


async def test_malformed_status_line() -> None:
    async with (
        raw_server(serve(b"HTTP/1.1 abc nonsense\r\n\r\n")) as url,
        ClientSession() as session,
    ):
        with pytest.raises(ClientResponseError, match="Invalid HTTP response"):
            await session.get(url)
        assert session.connector.in_use == 0


async def test_server_closes_before_answering() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async with raw_server(hang_up) as url, ClientSession() as session:
        with pytest.raises(ServerDisconnectedError):
            await session.get(url)


async def test_informational_responses_are_skipped() -> None:
    raw = (
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    async with raw_server(serve(raw, then_close=False)) as url, ClientSession() as session:
        response = await session.get(url)
        assert response.status == 200 and "Link" not in response.headers
        assert await response.text() == "ok"


async def test_unsolicited_bytes_on_an_idle_connection_close_it() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokGARBAGE"
    async with raw_server(serve(raw, then_close=False)) as url, ClientSession() as session:
        assert await (await session.get(url)).text() == "ok"
        await asyncio.sleep(0.05)
        assert session.connector.idle == 0


async def test_unexpected_101_is_an_error() -> None:
    raw = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n"
    async with raw_server(serve(raw, then_close=False)) as url, ClientSession() as session:
        with pytest.raises(ClientResponseError, match="Unexpected upgrade"):
            await session.get(url)
        assert session.connector.in_use == 0


async def test_304_has_no_body_even_with_a_length() -> None:
    async def not_modified(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await respond(writer, b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n")
        await read_request(reader)
        await respond(writer, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await reader.read()

    async with raw_server(not_modified) as url, ClientSession() as session:
        response = await session.get(url)
        assert response.status == 304 and await response.read() == b""
        assert await (await session.get(url)).text() == "ok"  # same connection, in step
