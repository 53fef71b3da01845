"""Requests and WebSockets through a real HTTP proxy (Debian's tinyproxy).

Targets are tidewire's own server, over http and https (trustme certificates for
``localhost``). Plain http goes to the proxy in absolute form, which tinyproxy forwards
with a ``Via`` header; https, ws and wss go through a CONNECT tunnel, which tinyproxy's
log shows.
"""

from __future__ import annotations

import asyncio
import importlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme
from client_servers import aiohttp_server, raw_server
from debian import debian_program
from proxy_support import PASSWORD, USER, Proxy, tinyproxy
from yarl import URL

from tidewire.client import (
    BasicAuth,
    ClientConnectorCertificateError,
    ClientConnectorError,
    ClientHttpProxyError,
    ClientProxyConnectionError,
    ClientResponseError,
    ClientSession,
    ClientTimeout,
    ConnectionTimeoutError,
    TCPConnector,
    WSMsgType,
)
from tidewire.server.testing import unused_port

tidewire_server = importlib.import_module("tidewire.server")


@pytest.fixture(scope="module")
def tinyproxy_program() -> str:
    path, why = debian_program("tinyproxy", "tinyproxy")
    if path is None:
        pytest.skip(f"these tests need Debian's tinyproxy: {why}")
    return path


@pytest.fixture(params=["open", "auth"])
async def proxy(
    request: pytest.FixtureRequest, tinyproxy_program: str, tmp_path: Path
) -> AsyncIterator[Proxy]:
    """A tinyproxy without credentials, then one that wants them."""
    async with tinyproxy(tinyproxy_program, tmp_path, auth=request.param == "auth") as running:
        yield running


@pytest.fixture
async def open_proxy(tinyproxy_program: str, tmp_path: Path) -> AsyncIterator[Proxy]:
    async with tinyproxy(tinyproxy_program, tmp_path) as running:
        yield running


@pytest.fixture
async def auth_proxy(tinyproxy_program: str, tmp_path: Path) -> AsyncIterator[Proxy]:
    async with tinyproxy(tinyproxy_program, tmp_path, auth=True) as running:
        yield running


@pytest.fixture
async def target() -> AsyncIterator[URL]:
    async with aiohttp_server(web=tidewire_server) as url:
        yield url


@pytest.fixture
async def tls_target(ca: trustme.CA) -> AsyncIterator[URL]:
    """https://localhost:<port>, with a certificate for ``localhost`` only."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    async with aiohttp_server(context, web=tidewire_server) as url:
        yield url.with_host("localhost")


def connects(proxy: Proxy, url: URL) -> list[str]:
    """The CONNECT requests tinyproxy logged for ``url``'s host and port."""
    return proxy.log_lines(f"CONNECT {url.host}:{url.port} HTTP/1.1")


# -- http: absolute form ---------------------------------------------------------------


async def test_http_goes_to_the_proxy_in_absolute_form(proxy: Proxy, target: URL) -> None:
    async with ClientSession() as session:
        url = target / "echo" % {"q": "1"}
        async with session.get(url, proxy=proxy.url, proxy_auth=proxy.auth) as response:
            assert response.status == 200
            seen = await response.json()
    assert seen["path"] == "/echo" and seen["query"] == [["q", "1"]]
    assert "tinyproxy" in seen["headers"]["Via"]  # the target got it through the proxy
    assert "Proxy-Authorization" not in seen["headers"]  # the proxy took its credentials
    assert proxy.log_lines(f"GET {url} HTTP/1.1")  # the absolute URL as the request target


async def test_proxy_credentials_in_the_proxy_url(auth_proxy: Proxy, target: URL) -> None:
    proxy_url = auth_proxy.url.with_user(USER).with_password(PASSWORD)
    async with ClientSession() as session, session.get(target / "echo", proxy=proxy_url) as answer:
        assert answer.status == 200
        assert "tinyproxy" in (await answer.json())["headers"]["Via"]


async def test_absolute_form_407_is_a_response(auth_proxy: Proxy, target: URL) -> None:
    async with (
        ClientSession() as session,
        session.get(
            target / "echo", proxy=auth_proxy.url, proxy_auth=BasicAuth(USER, "wrong")
        ) as response,
    ):
        # The proxy's refusal is the response, as in aiohttp (no exception). tinyproxy
        # answers a non-CONNECT request 401 with WWW-Authenticate, not 407.
        assert response.status == 401
        assert response.headers["Server"].startswith("tinyproxy")
        assert "Basic" in response.headers["WWW-Authenticate"]


async def test_session_wide_proxy_and_proxy_headers(auth_proxy: Proxy, target: URL) -> None:
    async with ClientSession(proxy=auth_proxy.url, proxy_auth=auth_proxy.auth) as session:
        response = await session.get(target / "echo", proxy_headers={"X-Proxy-Note": "hi"})
        seen = await response.json()
    assert "tinyproxy" in seen["headers"]["Via"]
    assert seen["headers"]["X-Proxy-Note"] == "hi"  # sent (tinyproxy passes it on)


# -- https, ws, wss: CONNECT tunnels ---------------------------------------------------


async def test_https_through_a_connect_tunnel(
    proxy: Proxy, tls_target: URL, client_context: ssl.SSLContext
) -> None:
    async with (
        ClientSession() as session,
        session.get(
            tls_target / "echo", proxy=proxy.url, proxy_auth=proxy.auth, ssl=client_context
        ) as response,
    ):
        seen = await response.json()
    assert seen["path"] == "/echo"
    assert "Via" not in seen["headers"]  # the proxy only carried bytes it could not read
    assert connects(proxy, tls_target)


async def test_wss_through_a_connect_tunnel(
    proxy: Proxy, tls_target: URL, client_context: ssl.SSLContext
) -> None:
    url = tls_target.with_scheme("wss") / "ws"
    async with (
        ClientSession() as session,
        session.ws_connect(url, proxy=proxy.url, proxy_auth=proxy.auth, ssl=client_context) as ws,
    ):
        await ws.send_str("through the tunnel")
        message = await ws.receive()
        assert message.type is WSMsgType.TEXT and message.data == "through the tunnel"
    assert connects(proxy, tls_target)


async def test_ws_through_a_connect_tunnel(proxy: Proxy, target: URL) -> None:
    async with ClientSession() as session:
        ws = await session.ws_connect(
            target.with_scheme("ws") / "ws", proxy=proxy.url, proxy_auth=proxy.auth
        )
        await ws.send_str("plain")
        assert (await ws.receive()).data == "plain"
        await ws.close()
    assert connects(proxy, target)  # ws:// tunnels too: its socket outlives the request


async def test_tls_is_checked_against_the_target_not_the_proxy(
    open_proxy: Proxy, tls_target: URL
) -> None:
    async with ClientSession() as session:
        with pytest.raises(ClientConnectorCertificateError) as caught:
            await session.get(tls_target / "echo", proxy=open_proxy.url)  # CA not trusted
        assert caught.value.host == "localhost"
        assert session.connector.in_use == 0


async def test_wrong_name_in_the_certificate_is_refused(
    open_proxy: Proxy, tls_target: URL, client_context: ssl.SSLContext
) -> None:
    # the same server as 127.0.0.1: the certificate names localhost only, SNI says 127.0.0.1
    url = tls_target.with_host("127.0.0.1") / "echo"
    async with ClientSession() as session:
        with pytest.raises(ClientConnectorCertificateError):
            await session.get(url, proxy=open_proxy.url, ssl=client_context)


# -- refusals and failures -------------------------------------------------------------


async def test_wrong_credentials_refuse_the_tunnel(
    auth_proxy: Proxy, tls_target: URL, client_context: ssl.SSLContext
) -> None:
    # tinyproxy answers 407 to a CONNECT without credentials and, a quirk of its own,
    # 401 to one with wrong credentials: either way the error carries the status.
    async with ClientSession() as session:
        for auth, status in ((None, 407), (BasicAuth(USER, "wrong"), 401)):
            with pytest.raises(ClientHttpProxyError) as caught:
                await session.get(
                    tls_target / "echo", proxy=auth_proxy.url, proxy_auth=auth, ssl=client_context
                )
            error = caught.value
            assert isinstance(error, ClientResponseError) and error.status == status
            assert f"CONNECT localhost:{tls_target.port}: {status}" in str(error)
            assert error.headers is not None and error.headers["Server"].startswith("tinyproxy")
            assert error.request_info is not None
            assert error.request_info.method == "CONNECT"
            assert "Proxy-Authorization" not in error.request_info.headers
        with pytest.raises(ClientHttpProxyError) as caught:
            await session.ws_connect(
                tls_target.with_scheme("wss") / "ws", proxy=auth_proxy.url, ssl=client_context
            )
        assert caught.value.status == 407
        assert "Proxy-Authenticate" in (caught.value.headers or {})
        assert session.connector.in_use == 0


async def test_proxy_refusing_connect_to_a_port(
    tinyproxy_program: str, tmp_path: Path, tls_target: URL, client_context: ssl.SSLContext
) -> None:
    refusing = tinyproxy(tinyproxy_program, tmp_path, connect_ports=[443])
    async with refusing as proxy, ClientSession() as session:
        with pytest.raises(ClientHttpProxyError) as caught:
            await session.get(tls_target / "echo", proxy=proxy.url, ssl=client_context)
    assert caught.value.status == 403
    assert "403" in str(caught.value)


async def test_unreachable_proxy(target: URL) -> None:
    port = unused_port()
    async with ClientSession() as session:
        for url in (target / "echo", target.with_scheme("https") / "echo"):
            with pytest.raises(ClientProxyConnectionError) as caught:
                await session.get(url, proxy=f"http://127.0.0.1:{port}")
            assert isinstance(caught.value, ClientConnectorError)
            assert (caught.value.host, caught.value.port) == ("127.0.0.1", port)
        with pytest.raises(ClientProxyConnectionError):
            await session.ws_connect(
                target.with_scheme("ws") / "ws", proxy=f"http://127.0.0.1:{port}"
            )
        assert session.connector.in_use == 0


async def test_connect_timeout_covers_the_connect_exchange(target: URL) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads the CONNECT, never answers

    timeout = ClientTimeout(connect=0.3)
    async with raw_server(silent) as mute_proxy, ClientSession(timeout=timeout) as session:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(ConnectionTimeoutError):
            await session.get(target.with_scheme("https") / "echo", proxy=mute_proxy)
        assert loop.time() - started < 2
        with pytest.raises(asyncio.TimeoutError):  # ws_connect's total budget
            await session.ws_connect(target.with_scheme("ws") / "ws", proxy=mute_proxy, timeout=0.3)


async def test_https_proxy_urls_are_refused(target: URL) -> None:
    async with ClientSession() as session:
        with pytest.raises(ValueError, match="https:// proxies"):
            await session.get(target / "echo", proxy="https://127.0.0.1:3128")
        with pytest.raises(ValueError, match="http://host"):
            await session.get(target / "echo", proxy="socks5://127.0.0.1:1080")


# -- trust_env -------------------------------------------------------------------------


async def test_trust_env_http_proxy_and_no_proxy(
    open_proxy: Proxy, target: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", str(open_proxy.url))
    async with ClientSession(trust_env=True) as session:
        seen = await (await session.get(target / "echo")).json()
        assert "tinyproxy" in seen["headers"]["Via"]
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        seen = await (await session.get(target / "echo")).json()
        assert "Via" not in seen["headers"]  # straight to the target
    async with ClientSession() as session:  # trust_env=False: the environment is ignored
        monkeypatch.delenv("NO_PROXY")
        seen = await (await session.get(target / "echo")).json()
        assert "Via" not in seen["headers"]


async def test_trust_env_lower_case_wins(
    open_proxy: Proxy, target: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{unused_port()}")  # nothing there
    monkeypatch.setenv("http_proxy", str(open_proxy.url))
    async with ClientSession(trust_env=True) as session:
        seen = await (await session.get(target / "echo")).json()
        assert "tinyproxy" in seen["headers"]["Via"]


async def test_trust_env_https_proxy_with_credentials(
    auth_proxy: Proxy,
    tls_target: URL,
    client_context: ssl.SSLContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with_credentials = auth_proxy.url.with_user(USER).with_password(PASSWORD)
    monkeypatch.setenv("HTTPS_PROXY", str(with_credentials))
    async with ClientSession(trust_env=True) as session:
        response = await session.get(tls_target / "echo", ssl=client_context)
        assert (await response.json())["path"] == "/echo"
    assert connects(auth_proxy, tls_target)


async def test_trust_env_ws_and_wss_proxies(
    open_proxy: Proxy,
    target: URL,
    tls_target: URL,
    client_context: ssl.SSLContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WSS_PROXY", str(open_proxy.url))
    async with ClientSession(trust_env=True) as session:
        async with session.ws_connect(
            tls_target.with_scheme("wss") / "ws", ssl=client_context
        ) as ws:
            await ws.send_str("env")
            assert (await ws.receive()).data == "env"
        assert connects(open_proxy, tls_target)
        async with session.ws_connect(target.with_scheme("ws") / "ws") as ws:  # no WS_PROXY
            await ws.send_str("direct")
            assert (await ws.receive()).data == "direct"
        assert not connects(open_proxy, target)
        monkeypatch.setenv("ws_proxy", str(open_proxy.url))
        async with session.ws_connect(target.with_scheme("ws") / "ws") as ws:
            await ws.send_str("env")
            assert (await ws.receive()).data == "env"
        assert connects(open_proxy, target)
        monkeypatch.setenv("NO_PROXY", "*")
        async with session.ws_connect(target.with_scheme("ws") / "ws") as ws:
            await ws.close()
        assert len(connects(open_proxy, target)) == 1


# -- the pool --------------------------------------------------------------------------


async def test_a_tunnel_is_reused_for_its_target_only(
    open_proxy: Proxy, tls_target: URL, ca: trustme.CA, client_context: ssl.SSLContext
) -> None:
    connector = TCPConnector(ssl=client_context)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    async with ClientSession(connector=connector, proxy=open_proxy.url) as session:
        first = await (await session.get(tls_target / "echo")).json()
        second = await (await session.get(tls_target / "echo")).json()
        assert first["peer_port"] == second["peer_port"]  # one tunnel, one socket
        assert len(connects(open_proxy, tls_target)) == 1
        assert connector.idle == 1
        async with aiohttp_server(context, web=tidewire_server) as served:
            other = served.with_host("localhost")
            await (await session.get(other / "echo")).read()  # another target, another tunnel
            assert len(connects(open_proxy, other)) == 1
        assert connector.idle == 2


async def test_a_proxy_closing_after_each_request(open_proxy: Proxy, target: URL) -> None:
    async with ClientSession(proxy=open_proxy.url) as session:
        for url in (target / "echo", target / "hello"):
            async with session.get(url) as response:
                assert response.status == 200
                await response.read()
            # tinyproxy closes the client's socket after each request: the pool notices
            for _ in range(50):
                if not session.connector.idle:
                    break
                await asyncio.sleep(0.02)
            assert session.connector.idle == 0
        # one client connection per request, after the fixture's probe that it listens
        assert len(open_proxy.log_lines("Connect (file descriptor")) == 1 + 2


async def test_absolute_form_connections_are_pooled_by_proxy(target: URL) -> None:
    """tinyproxy does not keep client connections alive: a minimal keep-alive proxy
    that answers itself shows one connection carrying requests for several targets."""
    seen: list[tuple[int, str]] = []  # (connection number, request line)

    async def keep_alive_proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = len({conn for conn, _ in seen}) + 1
        while head := await reader.readuntil(b"\r\n\r\n"):
            seen.append((number, head.split(b"\r\n", 1)[0].decode()))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    async with raw_server(keep_alive_proxy) as proxy, ClientSession(proxy=proxy) as session:
        other = target.with_port(unused_port())
        for url in (target / "a", other / "b", target / "c"):
            assert await (await session.get(url)).text() == "ok"
        assert session.connector.idle == 1
    assert seen == [
        (1, f"GET {target / 'a'} HTTP/1.1"),
        (1, f"GET {other / 'b'} HTTP/1.1"),
        (1, f"GET {target / 'c'} HTTP/1.1"),
    ]
