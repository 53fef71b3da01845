"""https and wss with a TLS context (throwaway certificates from trustme)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import pytest
import trustme
from client_servers import aiohttp_server
from test_client_upgrade import ws_headers
from yarl import URL

from tidewire.client import (
    ClientConnectorCertificateError,
    ClientSession,
    ClientTimeout,
    TCPConnector,
)


@pytest.fixture
async def tls_server(ca: trustme.CA) -> AsyncIterator[URL]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    async with aiohttp_server(context) as url:
        yield url


async def test_https_with_a_trusted_context(
    tls_server: URL, client_context: ssl.SSLContext
) -> None:
    async with ClientSession(connector=TCPConnector(ssl=client_context)) as session:
        first = await session.get(tls_server / "echo")
        port = (await first.json())["peer_port"]
        second = await session.get(tls_server / "echo")
        assert (await second.json())["peer_port"] == port  # TLS connections are pooled too


async def test_per_request_context(tls_server: URL, client_context: ssl.SSLContext) -> None:
    async with ClientSession() as session:
        response = await session.get(tls_server / "hello", ssl=client_context)
        assert await response.text() == "hello"


async def test_unknown_certificate_is_refused(tls_server: URL) -> None:
    async with ClientSession() as session:
        with pytest.raises(ClientConnectorCertificateError, match="Cannot connect"):
            await session.get(tls_server / "hello")
        assert session.connector.in_use == 0


async def test_verification_can_be_disabled(tls_server: URL) -> None:
    async with ClientSession() as session:
        assert await (await session.get(tls_server / "hello", ssl=False)).text() == "hello"


async def test_wss_upgrade(tls_server: URL, client_context: ssl.SSLContext) -> None:
    async with ClientSession() as session:
        result = await session._upgrade(
            tls_server.with_scheme("wss") / "ws",
            ws_headers(),
            timeout=ClientTimeout(total=5),
            ssl=client_context,
        )
        assert result.status == 101 and result.connection is not None
        assert result.connection.key.ssl is client_context
        transport, _ = result.connection.detach(asyncio.Protocol())
        assert transport.get_extra_info("ssl_object") is not None
        transport.close()


async def test_wss_messages(tls_server: URL, client_context: ssl.SSLContext) -> None:
    async with (
        ClientSession() as session,
        session.ws_connect(tls_server.with_scheme("wss") / "ws", ssl=client_context) as ws,
    ):
        await ws.send_str("over tls")
        assert await ws.receive_str() == "over tls"
    assert ws.close_code == 1000
