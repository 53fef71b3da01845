"""``ClientSession``: requests, redirects, cookies and auth on top of the connector."""

from __future__ import annotations

import asyncio
import json as json_module
import ssl as ssl_module
import warnings
import weakref
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from typing import Any, NamedTuple

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from tidewire.protocol.close import CloseCode
from tidewire.protocol.http import LAST_CHUNK, build_head, encode_chunk

from .auth import BasicAuth
from .connector import ConnectionKey, SSLOption, TCPConnector
from .context import AwaitableContext
from .cookies import CookieJar, parse_set_cookies
from .exceptions import (
    ClientOSError,
    ClientResponseError,
    InvalidURL,
    RequestInfo,
    ServerDisconnectedError,
    TooManyRedirects,
)
from .payload import NO_BODY, Body, make_body
from .protocol import ResponseHandler, ResponseHead
from .response import ClientResponse
from .timeouts import DEFAULT_TIMEOUT, ClientTimeout, Deadline, guard
from .websocket import ClientWebSocketResponse, WSConnect, ws_connect

StrOrURL = str | URL
HeadersArg = Mapping[str, str] | Iterable[tuple[str, str]] | None

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
TLS_SCHEMES = frozenset(("https", "wss"))
IDEMPOTENT = frozenset(("GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"))
REDIRECTS = frozenset((301, 302, 303, 307, 308))
BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))
USER_AGENT = "tidewire/0.1"
UPGRADE_ERROR_BODY = 64 * 1024
"""How much of a refused handshake's body ``_upgrade`` keeps for the error message."""
SMALL_BODY = 64 * 1024
"""Bodies up to this size go out in the same write as the head."""


class UpgradeResult(NamedTuple):
    """The answer to an upgrade request; ``transport`` is set only for a 101."""

    status: int
    reason: str
    headers: CIMultiDictProxy[str]
    transport: asyncio.Transport | None
    tail: bytes
    url: URL
    body: bytes = b""


def _origin(url: URL) -> tuple[str, str | None, int | None]:
    return url.scheme, url.raw_host, url.port


def _becomes_get(status: int, method: str) -> bool:
    """RFC 9110 15.4: a 303 is followed with a GET (a HEAD stays a HEAD); a 301 or 302
    turns a POST into a GET, as browsers do, and keeps any other method."""
    return (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST")


def _host_header(url: URL) -> str:
    host = url.raw_host or ""
    if ":" in host:
        host = f"[{host}]"
    port = url.port
    if port is not None and port != DEFAULT_PORTS.get(url.scheme):
        host = f"{host}:{port}"
    return host


class _RequestContextManager(AwaitableContext[ClientResponse]):
    """Lets a request be awaited (``r = await s.get(u)``) or entered (``async with``)."""

    __slots__ = ()

    async def _end(self, value: ClientResponse) -> None:
        value.release()


class ClientSession:
    """Shares a connection pool, cookies, default headers and timeouts between requests."""

    def __init__(
        self,
        base_url: StrOrURL | None = None,
        *,
        connector: TCPConnector | None = None,
        connector_owner: bool = True,
        cookies: Mapping[str, str] | None = None,
        headers: HeadersArg = None,
        auth: BasicAuth | None = None,
        json_serialize: Callable[[Any], str] = json_module.dumps,
        cookie_jar: CookieJar | None = None,
        raise_for_status: bool = False,
        timeout: ClientTimeout = DEFAULT_TIMEOUT,
        auto_decompress: bool = True,
        max_redirects: int = 10,
        limit: int = 100,
        limit_per_host: int = 0,
    ) -> None:
        self._closed = True  # until construction succeeds, so __del__ stays quiet
        self._base_url = URL(base_url) if base_url is not None else None
        if self._base_url is not None and not self._base_url.is_absolute():
            raise ValueError("base_url must be an absolute URL")
        self._connector = connector or TCPConnector(limit=limit, limit_per_host=limit_per_host)
        self._connector_owner = connector_owner if connector is not None else True
        self._default_headers: CIMultiDict[str] = CIMultiDict(headers or ())
        self._auth = auth
        self._json_serialize = json_serialize
        self._cookie_jar = cookie_jar if cookie_jar is not None else CookieJar()
        if cookies:
            self._cookie_jar.update_cookies(cookies)
        self._raise_for_status = raise_for_status
        self._timeout = timeout
        self._auto_decompress = auto_decompress
        self._max_redirects = max_redirects
        # Open outside the pool, so the connector does not close them: close() does.
        self._websockets: weakref.WeakSet[ClientWebSocketResponse] = weakref.WeakSet()
        self._closed = False

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        if not self._closed:
            _warn(f"Unclosed client session {self!r}", ResourceWarning, source=self)

    async def __aenter__(self) -> ClientSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the WebSockets opened through this session (code 1001, going away)
        and the pool's connections (when the session owns the connector)."""
        if not self._closed:
            self._closed = True
            closing = [ws.close(code=CloseCode.GOING_AWAY) for ws in list(self._websockets)]
            try:
                await asyncio.gather(*closing, return_exceptions=True)
            finally:  # a cancel while the WebSockets close still closes the pool
                if self._connector_owner:
                    await self._connector.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def connector(self) -> TCPConnector:
        return self._connector

    @property
    def cookie_jar(self) -> CookieJar:
        return self._cookie_jar

    @property
    def headers(self) -> CIMultiDict[str]:
        return self._default_headers

    @property
    def timeout(self) -> ClientTimeout:
        return self._timeout

    # -- the verbs -------------------------------------------------------------------

    def request(self, method: str, url: StrOrURL, **kwargs: Any) -> _RequestContextManager:
        return _RequestContextManager(self._request(method, url, **kwargs))

    def get(self, url: StrOrURL, **kwargs: Any) -> _RequestContextManager:
        return self.request("GET", url, **kwargs)

    def head(self, url: StrOrURL, **kwargs: Any) -> _RequestContextManager:
        kwargs.setdefault("allow_redirects", False)
        return self.request("HEAD", url, **kwargs)

    def options(self, url: StrOrURL, **kwargs: Any) -> _RequestContextManager:
        return self.request("OPTIONS", url, **kwargs)

    def post(self, url: StrOrURL, **kwargs: Any) -> _RequestContextManager:
        return self.request("POST", url, **kwargs)

    def put(self, url: StrOrURL, **kwargs: Any) -> _RequestContextManager:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: StrOrURL, **kwargs: Any) -> _RequestContextManager:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: StrOrURL, **kwargs: Any) -> _RequestContextManager:
        return self.request("DELETE", url, **kwargs)

    def ws_connect(self, url: StrOrURL, **kwargs: Any) -> WSConnect:
        """Open a WebSocket; see ``tidewire.client.websocket.ws_connect``."""
        return ws_connect(self, url, **kwargs)

    async def _upgrade(
        self,
        url: URL,
        headers: CIMultiDict[str],
        *,
        timeout: ClientTimeout,
        ssl: ssl_module.SSLContext | bool | None = None,
        auth: BasicAuth | None = None,
    ) -> UpgradeResult:
        """Send ``GET url`` with ``headers`` on a new connection outside the pool.

        A 101 answer comes back with the transport and the bytes already read past the
        head (``tail``); the caller must ``transport.set_protocol(...)`` before its next
        ``await``, since later bytes would still reach this client's protocol. Any other
        answer comes back without a transport (closed) and with up to 64 KiB of its body.
        """
        if self._closed:
            raise RuntimeError("Session is closed")
        http_url = url.with_scheme({"ws": "http", "wss": "https"}.get(url.scheme, url.scheme))
        http_url = self._make_url(http_url, None)
        if not url.is_absolute():  # resolved against base_url, in its ws form
            scheme = http_url.scheme
            url = http_url.with_scheme({"http": "ws", "https": "wss"}.get(scheme, scheme))
        loop = asyncio.get_running_loop()
        deadline = Deadline(loop, timeout)
        request_headers = self._request_headers(url, headers, auth, None)
        head = build_head(f"GET {http_url.raw_path_qs or '/'} HTTP/1.1", request_headers.items())
        is_tls = http_url.scheme == "https"
        key = ConnectionKey(http_url.raw_host or "", http_url.port or 80, is_tls, ssl)
        handler = await self._connector.open(key, deadline, loop.time())
        try:
            received = await self._exchange(
                handler,
                head=head,
                body=NO_BODY,
                chunked=False,
                deadline=deadline,
                method="GET",
                decompress=False,
            )
            if received.headers.getall("set-cookie", ()):
                self._cookie_jar.update_cookies(
                    parse_set_cookies(received.headers.getall("set-cookie")), http_url
                )
            if received.status == 101:
                transport, tail = handler.take_upgraded()
                return UpgradeResult(101, received.reason, received.headers, transport, tail, url)
            body = await received.content.read_bounded(UPGRADE_ERROR_BODY)
        except BaseException:
            handler.close()
            raise
        handler.close()
        return UpgradeResult(
            received.status, received.reason, received.headers, None, b"", url, body
        )

    # -- building a request ----------------------------------------------------------

    def _make_url(self, str_or_url: StrOrURL, params: Any) -> URL:
        url = URL(str_or_url)
        if self._base_url is not None and not url.is_absolute():
            url = self._base_url.join(url)
        if url.scheme not in ("http", "https") or not url.raw_host:
            raise InvalidURL(f"Cannot request {str(url)!r}: need an absolute http(s) URL")
        if params:
            url = url.extend_query(params)
        return url.with_fragment(None)

    def _request_headers(
        self,
        url: URL,
        headers: HeadersArg,
        auth: BasicAuth | None,
        cookies: Mapping[str, str] | None,
        strip_auth: bool = False,
    ) -> CIMultiDict[str]:
        """Host first, then the session's and the request's headers, then what is implied."""
        merged: CIMultiDict[str] = CIMultiDict(Host=_host_header(url))
        merged.extend(self._default_headers)
        if headers:
            merged.update(headers)
        merged.setdefault("Accept", "*/*")
        if self._auto_decompress:
            merged.setdefault("Accept-Encoding", "gzip, deflate")
        merged.setdefault("User-Agent", USER_AGENT)
        parts = [*merged.popall("Cookie", ()), self._cookie_jar.cookie_header(url)]
        if cookies:
            parts.extend(f"{name}={value}" for name, value in cookies.items())
        cookie = "; ".join(part for part in parts if part)
        if cookie:
            merged["Cookie"] = cookie  # one header: the user's own first, then the jar's
        if strip_auth:
            merged.popall("Authorization", None)
            return merged
        auth = auth or BasicAuth.from_url(url) or self._auth
        if auth is not None:
            merged.setdefault("Authorization", auth.encode())
        return merged

    @staticmethod
    def _body_headers(
        headers: CIMultiDict[str], method: str, body: Body, chunked: bool | None
    ) -> None:
        if body.content_type is not None:
            headers.setdefault("Content-Type", body.content_type)
        if body.data is None:
            if method in BODY_METHODS:
                headers["Content-Length"] = "0"
        elif chunked or body.length is None:
            headers.pop("Content-Length", None)
            headers["Transfer-Encoding"] = "chunked"
        else:
            headers["Content-Length"] = str(body.length)

    # -- sending ---------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        str_or_url: StrOrURL,
        *,
        params: Any = None,
        data: Any = None,
        json: Any = None,
        cookies: Mapping[str, str] | None = None,
        headers: HeadersArg = None,
        auth: BasicAuth | None = None,
        allow_redirects: bool = True,
        max_redirects: int | None = None,
        timeout: ClientTimeout | None = None,
        ssl: SSLOption = None,
        chunked: bool | None = None,
        raise_for_status: bool | None = None,
        auto_decompress: bool | None = None,
    ) -> ClientResponse:
        if self._closed:
            raise RuntimeError("Session is closed")
        method = method.upper()
        url = self._make_url(str_or_url, params)
        deadline = Deadline(asyncio.get_running_loop(), timeout or self._timeout)
        body = make_body(data, json, self._json_serialize)
        decompress = self._auto_decompress if auto_decompress is None else auto_decompress
        redirect_limit = self._max_redirects if max_redirects is None else max_redirects
        history: list[ClientResponse] = []
        strip_auth = False
        while True:
            request_headers = self._request_headers(url, headers, auth, cookies, strip_auth)
            self._body_headers(request_headers, method, body, chunked)
            response = await self._send(
                method=method,
                url=url,
                headers=request_headers,
                body=body,
                deadline=deadline,
                ssl=ssl,
                decompress=decompress,
                history=tuple(history),
            )
            if response.cookies:
                self._cookie_jar.update_cookies(response.cookies, response.url)
            location = response.headers.get("location")
            if not (allow_redirects and response.status in REDIRECTS and location):
                break
            if not _becomes_get(response.status, method) and not body.replayable:
                break  # the stream is spent: hand the redirect to the caller unfollowed
            history.append(response)
            if len(history) > redirect_limit:
                response.release()
                raise TooManyRedirects(
                    response.request_info,
                    tuple(history),
                    status=response.status,
                    message=f"Exceeded {redirect_limit} redirects",
                    headers=response.headers,
                )
            await response.read()  # lets the connection go back to the pool
            target = url.join(URL(location))
            if target.scheme not in ("http", "https"):
                raise InvalidURL(f"Redirect to a non-HTTP URL: {location!r}")
            if _becomes_get(response.status, method):
                method, body = "GET", NO_BODY
            if _origin(target) != _origin(url):
                strip_auth = True  # credentials are for the origin they were given for
            url = target.with_fragment(None)
        if raise_for_status if raise_for_status is not None else self._raise_for_status:
            response.raise_for_status()
        return response

    async def _send(
        self,
        *,
        method: str,
        url: URL,
        headers: CIMultiDict[str],
        body: Body,
        deadline: Deadline,
        ssl: SSLOption,
        decompress: bool,
        history: tuple[ClientResponse, ...],
    ) -> ClientResponse:
        """One exchange; retried once on a fresh socket if a reused one turns out dead."""
        is_tls = url.scheme in TLS_SCHEMES
        key = ConnectionKey(url.raw_host or "", url.port or 80, is_tls, ssl if is_tls else None)
        head = build_head(f"{method} {url.raw_path_qs or '/'} HTTP/1.1", headers.items())
        chunked = "chunked" in headers.get("Transfer-Encoding", "")
        retried = False
        while True:
            handler = await self._connector.connect(key, deadline, fresh=retried)
            try:
                received = await self._exchange(
                    handler,
                    head=head,
                    body=body,
                    chunked=chunked,
                    deadline=deadline,
                    method=method,
                    decompress=decompress,
                )
                break
            except (ServerDisconnectedError, ClientOSError):
                if (
                    retried
                    or not handler.reused
                    or handler.received_any
                    or method not in IDEMPOTENT
                    or not body.replayable
                ):
                    raise
                retried = True
        if received.status == 101:
            handler.release(reusable=False)
            raise ClientResponseError(
                None, history, status=101, message="Unexpected upgrade to another protocol"
            )
        return ClientResponse(
            method,
            url,
            status=received.status,
            reason=received.reason,
            version=received.version,
            headers=received.headers,
            content=received.content,
            request_info=RequestInfo(url, method, CIMultiDictProxy(headers), url),
            history=history,
            connection=handler,
        )

    @staticmethod
    async def _exchange(
        handler: ResponseHandler,
        *,
        head: bytes,
        body: Body,
        chunked: bool,
        deadline: Deadline,
        method: str,
        decompress: bool,
    ) -> ResponseHead:
        """Write the request and wait for the response head; a failure closes the socket."""
        exchange = handler.start(deadline=deadline, is_head=method == "HEAD", decompress=decompress)
        try:
            data = body.data
            if data is None:
                handler.write(head)
            elif isinstance(data, bytes):
                if chunked:
                    data = encode_chunk(data) + LAST_CHUNK if data else LAST_CHUNK
                if len(data) <= SMALL_BODY:
                    handler.write(head + data)
                else:
                    handler.write(head)
                    handler.write(data)
            else:
                handler.write(head)
                await _stream(handler, data, chunked, deadline)
            return await handler.read_head()
        except BaseException:
            handler.abandon(exchange)
            raise


async def _stream(
    handler: ResponseHandler, data: AsyncIterable[bytes], chunked: bool, deadline: Deadline
) -> None:
    """Send a streamed body, waiting for the socket to drain between pieces."""
    with guard(deadline.limit(None)):
        async for chunk in data:
            if chunk:
                handler.write(encode_chunk(chunk) if chunked else chunk)
                await handler.drain()
        if chunked:
            handler.write(LAST_CHUNK)
