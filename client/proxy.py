"""Going through an HTTP proxy: which proxy a request takes, and the CONNECT tunnel.

A request reaches its target through a proxy in one of two ways. A plain ``http://``
request is sent to the proxy as it is, with the absolute URL as its target
(``GET http://host/path HTTP/1.1``, RFC 9112 3.2.2): the proxy reads it, so one
connection to the proxy can carry requests for any target. Everything else (``https://``,
where the proxy must not see the request, and ``ws://``/``wss://``, whose upgraded
socket outlives the request) first asks the proxy for a tunnel to the target with
``CONNECT host:port`` (RFC 9110 9.3.6); the socket then reaches the target alone and
TLS, when wanted, runs over it end to end.

The session decides the route (``proxy_route``), the connector opens the connection it
names (``open_tunnel`` for a tunnel), and the route is part of the pool key, so a
connection is reused only by requests that would have opened the same one.
"""

from __future__ import annotations

import asyncio
import urllib.request
from typing import NamedTuple

import httptools
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from tidewire.protocol.http import HeaderCollector, build_head

from .auth import BasicAuth
from .exceptions import ClientHttpProxyError, ClientProxyConnectionError, RequestInfo

MAX_PROXY_HEAD = 64 * 1024
"""The largest answer head to a CONNECT we read; a proxy sending more is broken."""
TUNNELLED = frozenset(("https", "ws", "wss"))
"""Target schemes that go through a CONNECT tunnel; plain http is sent in absolute form."""


class ProxyRoute(NamedTuple):
    """The proxy a connection goes through, and how.

    ``url`` is the proxy's ``http://host:port`` (credentials taken out), ``headers``
    what the proxy is sent (``Proxy-Authorization`` and the request's
    ``proxy_headers``): on the CONNECT for a ``tunnel``, on every request in absolute
    form otherwise. Hashable, as it is part of a pool key.
    """

    url: URL
    headers: tuple[tuple[str, str], ...]
    tunnel: bool

    @property
    def host(self) -> str:
        """The proxy's host, as connected to."""
        return self.url.raw_host or ""

    @property
    def port(self) -> int:
        """The proxy's port (80 when its URL names none)."""
        return self.url.port or 80


def env_proxy(url: URL) -> tuple[URL, BasicAuth | None] | None:
    """The proxy the environment names for ``url``, as urllib reads it.

    ``<scheme>_proxy`` for the URL's scheme (``HTTP_PROXY``, ``HTTPS_PROXY``,
    ``WS_PROXY``, ``WSS_PROXY``; the lower-case name wins when both are set, and
    ``HTTP_PROXY`` is ignored under CGI, where it is a request header), unless
    ``NO_PROXY`` lists the host. Credentials in the proxy URL become its ``BasicAuth``.
    """
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(url.scheme)
    host = url.raw_host or ""
    if not proxy or not host:
        return None
    # proxy_bypass_environment matches a NO_PROXY entry against "host" and "host:port"
    checked = host if ":" in host or url.port is None else f"{host}:{url.port}"
    # public in urllib.request (in its __all__ only as proxy_bypass), absent from typeshed
    if urllib.request.proxy_bypass_environment(checked, proxies):  # type: ignore[attr-defined]
        return None
    if "://" not in proxy:  # HTTP_PROXY=proxy:3128, which curl and urllib accept too
        proxy = f"http://{proxy}"
    proxy_url = URL(proxy)
    return proxy_url, BasicAuth.from_url(proxy_url)


def proxy_route(
    proxy: URL,
    auth: BasicAuth | None,
    headers: tuple[tuple[str, str], ...],
    *,
    tunnel: bool,
) -> ProxyRoute:
    """The route through ``proxy`` (credentials in its URL count as ``auth``).

    Raises ``ValueError`` for a proxy URL that is not ``http://host[:port]``: TLS to the
    proxy itself (an ``https://`` proxy) is not supported.
    """
    if proxy.scheme == "https":
        raise ValueError(
            f"Proxy {proxy.with_user(None)!s}: https:// proxies (TLS to the proxy) are not"
            " supported; use the proxy's http:// address (https targets are still"
            " encrypted end to end through its CONNECT tunnel)"
        )
    if proxy.scheme != "http" or not proxy.raw_host:
        raise ValueError(f"Proxy URL must be http://host[:port], not {proxy.with_user(None)!s}")
    auth = auth or BasicAuth.from_url(proxy)
    if auth is not None:
        headers = (("Proxy-Authorization", auth.encode()), *headers)
    return ProxyRoute(proxy.with_user(None).with_path("").with_query(None), headers, tunnel)


class _TunnelReader(HeaderCollector, asyncio.Protocol):
    """Reads the proxy's answer to a CONNECT, up to the end of its head."""

    __slots__ = ("_buffer", "_raw_headers", "_reason", "head")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._buffer = bytearray()
        self._raw_headers: list[tuple[str, str]] = []
        self._reason = b""
        self.head: asyncio.Future[tuple[int, str, CIMultiDictProxy[str], bytes]] = (
            loop.create_future()
        )

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self.head.done():
            return
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_PROXY_HEAD:
                self._fail(ConnectionError("the proxy's answer to CONNECT is too long"))
            return
        parser = httptools.HttpResponseParser(self)
        try:
            parser.feed_data(bytes(self._buffer[: end + 4]))
        except httptools.HttpParserError as error:
            self._fail(ConnectionError(f"invalid answer from the proxy: {error}"))
            return
        headers = CIMultiDictProxy(CIMultiDict(self._raw_headers))
        status, reason = parser.get_status_code(), self._reason.decode("latin-1")
        self.head.set_result((status, reason, headers, bytes(self._buffer[end + 4 :])))

    def on_status(self, status: bytes) -> None:
        self._reason += status

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionResetError("the proxy closed the connection"))

    def _fail(self, error: Exception) -> None:
        if not self.head.done():
            self.head.set_exception(error)


async def open_tunnel(
    route: ProxyRoute,
    host: str,
    port: int,
    *,
    family: int = 0,
    local_addr: tuple[str, int] | None = None,
) -> asyncio.Transport:
    """Connect to the proxy and have it open a tunnel to ``host:port``; the socket,
    once the proxy answered 2xx, reaches the target (its protocol is for the caller to
    set, or to wrap in TLS).

    Raises ``ClientProxyConnectionError`` when the proxy cannot be reached or breaks
    the exchange, and ``ClientHttpProxyError`` (with the proxy's status) when it refuses
    the tunnel. The caller bounds the time (the request's connect budget).
    """
    loop = asyncio.get_running_loop()
    reader = _TunnelReader(loop)
    try:
        transport, _ = await loop.create_connection(
            lambda: reader, route.host, route.port, family=family, local_addr=local_addr
        )
    except OSError as error:
        raise ClientProxyConnectionError(route.host, route.port, error) from error
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        transport.write(
            build_head(f"CONNECT {authority} HTTP/1.1", (("Host", authority), *route.headers))
        )
        status, reason, headers, extra = await reader.head
    except OSError as error:
        transport.close()
        raise ClientProxyConnectionError(route.host, route.port, error) from error
    except BaseException:  # a timeout or a cancel: the half-open tunnel goes
        transport.close()
        raise
    if not 200 <= status < 300 or extra:
        transport.close()
        shown = CIMultiDict([("Host", authority), *route.headers])
        shown.popall("Proxy-Authorization", None)  # errors get logged: no credentials
        info = RequestInfo(route.url, "CONNECT", CIMultiDictProxy(shown), route.url)
        problem = "sent bytes after its 200" if 200 <= status < 300 else f"{status} {reason}"
        raise ClientHttpProxyError(
            info,
            status=status,
            message=f"Proxy {route.url} refused CONNECT {authority}: {problem}",
            headers=headers,
        )
    return transport
