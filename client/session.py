"""``ClientSession``: requests, redirects, cookies and auth on top of the connector.

Every request goes through one path, ``ClientSession._exchange``: build the pool key and
the head, write the request, wait for the head of the answer, store its cookies. A
plain request borrows a pooled connection and becomes a ``ClientResponse``; a WebSocket
upgrade (``ws_connect``) opens a connection of its own, which the ``ClientWebSocketResponse``
keeps. The session also keeps the WebSockets it opened, to close them when it closes.

Through a proxy the path is the same: the session picks the route (``_route``), the
connector opens the tunnel or the connection to the proxy, and ``_exchange`` writes an
absolute-form request target when there is no tunnel. Tracing wraps the path only for a
session with trace configs; one without takes ``_request`` directly.
"""

from __future__ import annotations

import asyncio
import json as json_module
import warnings
import weakref
from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence
from http.cookies import SimpleCookie
from typing import Any, NamedTuple

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from tidewire.protocol.close import CloseCode
from tidewire.protocol.errors import InvalidHandshake
from tidewire.protocol.http import LAST_CHUNK, build_head, encode_chunk
from tidewire.protocol.options import DEFAULT_MAX_MSG_SIZE, WebSocketOptions, shared_options

from .auth import BasicAuth
from .connector import TCPConnector
from .context import AwaitableContext
from .cookies import CookieJar, parse_set_cookies
from .exceptions import (
    ClientOSError,
    ClientResponseError,
    InvalidURL,
    RequestInfo,
    ServerDisconnectedError,
    TooManyRedirects,
    WSServerHandshakeError,
)
from .payload import NO_BODY, Body, make_body
from .protocol import ConnectionKey, ResponseHandler, ResponseHead, SSLOption
from .proxy import TUNNELLED, ProxyRoute, env_proxy, proxy_route
from .response import ClientResponse
from .timeouts import REQUEST_TIMEOUT, WS_HANDSHAKE_TIMEOUT, ClientTimeout, Deadline, guard
from .tracing import (
    NO_TRACES,
    SendTrace,
    Trace,
    TraceConfig,
    TraceRequestEndParams,
    TraceRequestExceptionParams,
    TraceRequestRedirectParams,
    TraceRequestStartParams,
    body_tracer,
    emit,
)
from .websocket import ClientHandshake, ClientWebSocketResponse, WSConnect

StrOrURL = str | URL
HeadersArg = Mapping[str, str] | Iterable[tuple[str, str]] | None
ProxyHeaders = Mapping[str, str] | None

DEFAULT_PORTS = {"http": 80, "https": 443}
HTTP_SCHEME_OF = {"ws": "http", "wss": "https"}
WS_SCHEME_OF = {"http": "ws", "https": "wss"}
IDEMPOTENT = frozenset(("GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"))
REDIRECTS = frozenset((301, 302, 303, 307, 308))
BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))
USER_AGENT = "tidewire/0.1"
UPGRADE_ERROR_BODY = 64 * 1024
"""How much of a refused handshake's body ``_upgrade`` keeps for the error message."""
SMALL_BODY = 64 * 1024
"""Bodies up to this size go out in the same write as the head."""


class _UpgradeResult(NamedTuple):
    """The answer to an upgrade request.

    A 101 comes with its ``connection``, which keeps what arrives (bytes, and the
    connection's end) until ``connection.detach(protocol)`` hands the socket on, so
    awaits may come between. Any other answer comes with its socket closed and up to 64 KiB of
    its body. ``url`` is the URL requested, relative ones resolved in their ws form.
    """

    status: int
    reason: str
    headers: CIMultiDictProxy[str]
    connection: ResponseHandler | None
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


def _may_retry(handler: ResponseHandler, method: str, body: Body) -> bool:
    """Whether a request that failed on ``handler`` may go again on a fresh socket: the
    socket was a reused one that turned out dead before any byte of the answer came,
    and sending the request twice can do no harm."""
    return handler.reused and not handler.received_any and method in IDEMPOTENT and body.replayable


_Via = tuple[StrOrURL | None, BasicAuth | None, ProxyHeaders]
"""A request's ``proxy``, ``proxy_auth`` and ``proxy_headers`` arguments."""


class _RequestContextManager(AwaitableContext[ClientResponse]):
    """Lets a request be awaited (``r = await s.get(u)``) or entered (``async with``)."""

    __slots__ = ()

    async def _end(self, value: ClientResponse) -> None:
        value.release()


class ClientSession:
    """Shares a connection pool, cookies, default headers and timeouts between requests.

    Open one per application (not one per request) and close it when done, best with
    ``async with ClientSession() as session:``.

    - ``base_url``: an absolute URL that relative request URLs are joined to; a
      ``ValueError`` if it is not absolute.
    - ``connector``: the pool to use (a new ``TCPConnector(limit=limit,
      limit_per_host=limit_per_host)`` if none); ``connector_owner=False`` leaves a
      given connector open when the session closes.
    - ``cookies``: cookies to start the jar with; ``cookie_jar``: the jar itself (a
      new ``CookieJar()`` if none).
    - ``headers``: default headers of every request; ``auth``: default credentials.
    - ``json_serialize``: how ``json=`` bodies become text (``json.dumps``).
    - ``raise_for_status``: call ``response.raise_for_status()`` on every response.
    - ``timeout``: the default ``ClientTimeout`` of requests (300 s in all, 30 s to
      open a socket).
    - ``auto_decompress``: undo gzip/deflate Content-Encoding of bodies.
    - ``max_redirects``: redirects followed before ``TooManyRedirects``.
    - ``proxy``, ``proxy_auth``: the HTTP proxy of every request and WebSocket that
      does not name its own (see ``request``), and its credentials.
    - ``trust_env``: without a ``proxy``, take it from the environment, as urllib
      does: ``HTTP_PROXY``, ``HTTPS_PROXY``, ``WS_PROXY``, ``WSS_PROXY`` by the target's
      scheme (lower-case names too), except for hosts ``NO_PROXY`` lists; credentials
      in the proxy URL are its ``proxy_auth``. ``~/.netrc`` is not read.
    - ``trace_configs``: ``TraceConfig``s whose callbacks see each request (they are
      frozen here).
    """

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
        timeout: ClientTimeout = REQUEST_TIMEOUT,
        auto_decompress: bool = True,
        max_redirects: int = 10,
        limit: int = 100,
        limit_per_host: int = 0,
        proxy: StrOrURL | None = None,
        proxy_auth: BasicAuth | None = None,
        trust_env: bool = False,
        trace_configs: Sequence[TraceConfig] | None = None,
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
        self._proxy = URL(proxy) if proxy is not None else None
        self._proxy_auth = proxy_auth
        self._trust_env = trust_env
        self._trace_configs = tuple(trace_configs or ())
        for trace_config in self._trace_configs:
            trace_config.freeze()
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
        """Whether ``close()`` was called; a closed session refuses new requests
        (``RuntimeError``)."""
        return self._closed

    @property
    def connector(self) -> TCPConnector:
        """The connection pool the session's requests go through."""
        return self._connector

    @property
    def cookie_jar(self) -> CookieJar:
        """The cookies the session sends, and stores from every response."""
        return self._cookie_jar

    @property
    def headers(self) -> CIMultiDict[str]:
        """The default headers of every request (a request's own ``headers`` win)."""
        return self._default_headers

    @property
    def trust_env(self) -> bool:
        """Whether requests without a proxy take one from the environment."""
        return self._trust_env

    @property
    def trace_configs(self) -> tuple[TraceConfig, ...]:
        """The (frozen) ``TraceConfig``s whose callbacks see each request."""
        return self._trace_configs

    @property
    def timeout(self) -> ClientTimeout:
        """The ``ClientTimeout`` of requests that do not pass their own."""
        return self._timeout

    # -- the verbs -------------------------------------------------------------------

    def request(self, method: str, url: StrOrURL, **kwargs: Any) -> _RequestContextManager:
        """Send a ``method`` request to ``url``; await the result for the
        ``ClientResponse`` (its head read, its body still to read), or use it as
        ``async with``, which releases the connection at the end of the block.

        ``url`` is absolute, or relative to the session's ``base_url``. Keyword
        arguments:

        - ``params``: query parameters added to the URL (a mapping or pairs).
        - ``data``: the body: bytes, str, a ``FormData``, a mapping (form-encoded), a
          file, or an async iterable of bytes (sent chunked unless its size is known);
          ``json``: an object sent as JSON (not with ``data``).
        - ``headers``, ``cookies``, ``auth`` (``BasicAuth``): for this request, on
          top of the session's; credentials in the URL count as ``auth``.
        - ``allow_redirects`` (``True``; ``False`` for ``head``): follow 3xx answers,
          at most ``max_redirects`` (the session's) of them, else ``TooManyRedirects``.
          Credentials are not sent on to another origin.
        - ``timeout``: a ``ClientTimeout`` instead of the session's.
        - ``ssl``: ``None``/``True`` to verify with the default context, ``False`` not
          to verify, or an ``ssl.SSLContext``.
        - ``chunked``: force ``Transfer-Encoding: chunked``.
        - ``raise_for_status``, ``auto_decompress``: the session's settings, for this
          request.
        - ``proxy``: an ``http://host:port`` proxy to go through (else the session's,
          else, with ``trust_env``, the environment's); ``proxy_auth``: its
          credentials (``BasicAuth``, sent as ``Proxy-Authorization``; credentials in
          the proxy URL count too); ``proxy_headers``: more headers for the proxy. An
          ``http://`` request goes to the proxy with its absolute URL as the target;
          an ``https://`` one through a ``CONNECT`` tunnel, with TLS to the target
          over it. A 407 to an absolute-form request is an ordinary response.
        - ``trace_request_ctx``: handed to the ``TraceConfig``s' context factory, so
          tracing callbacks see it as ``trace_config_ctx.trace_request_ctx``.

        Raises ``InvalidURL`` for a URL that is not absolute http(s),
        ``ClientConnectorError`` (and ``ClientConnectorCertificateError``) when no
        connection opens (``ClientProxyConnectionError`` when the proxy cannot be
        reached), ``ClientHttpProxyError`` (its ``status`` the proxy's) when the proxy
        refuses the tunnel, ``ValueError`` for a proxy URL that is not ``http://``,
        ``ServerDisconnectedError`` or ``ClientOSError`` when it
        breaks, a ``ServerTimeoutError`` when a ``ClientTimeout`` budget runs out,
        ``ClientResponseError`` for a 4xx/5xx with ``raise_for_status``, and
        ``RuntimeError`` on a closed session.
        """
        trace_request_ctx = kwargs.pop("trace_request_ctx", None)
        if self._trace_configs:
            return _RequestContextManager(self._traced(method, url, trace_request_ctx, kwargs))
        return _RequestContextManager(self._request(method, url, **kwargs))

    def get(self, url: StrOrURL, **kwargs: Any) -> _RequestContextManager:
        """A GET request; the arguments and errors are ``request``'s."""
        return self.request("GET", url, **kwargs)

    def head(self, url: StrOrURL, **kwargs: Any) -> _RequestContextManager:
        """A HEAD request, not following redirects unless ``allow_redirects=True``; the
        arguments and errors are ``request``'s."""
        kwargs.setdefault("allow_redirects", False)
        return self.request("HEAD", url, **kwargs)

    def options(self, url: StrOrURL, **kwargs: Any) -> _RequestContextManager:
        """An OPTIONS request; the arguments and errors are ``request``'s."""
        return self.request("OPTIONS", url, **kwargs)

    def post(self, url: StrOrURL, **kwargs: Any) -> _RequestContextManager:
        """A POST request, usually with ``data=`` or ``json=``; the arguments and errors
        are ``request``'s."""
        return self.request("POST", url, **kwargs)

    def put(self, url: StrOrURL, **kwargs: Any) -> _RequestContextManager:
        """A PUT request; the arguments and errors are ``request``'s."""
        return self.request("PUT", url, **kwargs)

    def patch(self, url: StrOrURL, **kwargs: Any) -> _RequestContextManager:
        """A PATCH request; the arguments and errors are ``request``'s."""
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: StrOrURL, **kwargs: Any) -> _RequestContextManager:
        """A DELETE request; the arguments and errors are ``request``'s."""
        return self.request("DELETE", url, **kwargs)

    def ws_connect(
        self,
        url: StrOrURL,
        *,
        protocols: Sequence[str] = (),
        heartbeat: float | None = None,
        compress: int = 15,
        max_msg_size: int = DEFAULT_MAX_MSG_SIZE,
        headers: Mapping[str, str] | None = None,
        auth: BasicAuth | None = None,
        origin: str | None = None,
        timeout: ClientTimeout | float | None = None,
        receive_timeout: float | None = None,
        close_timeout: float = 10.0,
        autoping: bool = True,
        max_queue: int = 16,
        ssl: SSLOption = None,
        proxy: StrOrURL | None = None,
        proxy_auth: BasicAuth | None = None,
        proxy_headers: ProxyHeaders = None,
    ) -> WSConnect:
        """Open a WebSocket to ``url``: ``ws = await session.ws_connect(url)``, or
        ``async with session.ws_connect(url) as ws:`` to close it at the end of the block.

        ``url`` is ``ws://``, ``wss://``, ``http://`` or ``https://``, or relative to the
        session's ``base_url``; the session's headers, cookies and auth go with the
        handshake, and the session closes the WebSocket when it closes.

        - ``protocols``: subprotocols offered, in order of preference; the one the
          server picks is ``ws.protocol`` (``None`` if it picked none).
        - ``heartbeat``: seconds of silence from the server before we ping it; no pong
          within half of that fails the connection (close code 1006, the next
          ``receive()`` gives an ERROR message). ``None`` (default): no pings.
        - ``compress``: the permessage-deflate window we offer, 8 to 15 bits (default
          15); ``0`` offers no compression.
        - ``max_msg_size``: the largest message accepted, in bytes once inflated
          (default 4 MiB); a larger one closes the connection with 1009. ``0``: no
          limit.
        - ``headers``: extra headers of the handshake request; ``auth``: its
          credentials (``BasicAuth``), instead of the session's; ``origin``: its
          ``Origin`` header (none by default).
        - ``timeout``: bounds the handshake, from connecting to the 101: a
          ``ClientTimeout``, or seconds in all (default 30 s).
        - ``receive_timeout``: the default timeout of every ``receive()``, in seconds
          (``None``, the default: wait for ever); it raises ``asyncio.TimeoutError``
          and leaves the connection open.
        - ``close_timeout``: how long ``close()`` waits for the server's close frame
          and then for the TCP close (default 10 s), before dropping the socket.
        - ``autoping``: answer pings and swallow pongs ourselves (default); with
          ``False``, ``receive()`` hands out PING and PONG messages too.
        - ``max_queue``: received messages waiting to be read (default 16); at that
          many, reading from the socket pauses until half of them are taken.
        - ``ssl``: for ``wss://``: ``None``/``True`` to verify with the default
          context, ``False`` not to verify, or an ``ssl.SSLContext``.
        - ``proxy``, ``proxy_auth``, ``proxy_headers``: as ``request``'s; a WebSocket
          always goes through a ``CONNECT`` tunnel (``ws://`` too), and with
          ``trust_env`` takes ``WS_PROXY``/``WSS_PROXY``.

        Raises ``ValueError`` at once, before any connection, for a setting out of
        range; when awaited: ``WSServerHandshakeError`` when the server refuses the
        handshake (its ``status`` is the answer's) or answers a 101 that does not
        match our offer, the connection and proxy errors of ``request``
        (``InvalidURL``, ``ClientConnectorError``, ``ClientHttpProxyError``, ...), a
        ``ServerTimeoutError`` when ``timeout`` runs out, and ``RuntimeError`` on a
        closed session.
        """
        options = shared_options(
            max_msg_size=max_msg_size,
            compress_threshold=WebSocketOptions.compress_threshold,  # not a client argument
            heartbeat=heartbeat,
            autoping=autoping,
            receive_timeout=receive_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
        )
        handshake = ClientHandshake(protocols=protocols, compress=compress, origin=origin)
        if timeout is None:
            timeout = WS_HANDSHAKE_TIMEOUT
        elif not isinstance(timeout, ClientTimeout):
            timeout = ClientTimeout(total=timeout)
        via = (proxy, proxy_auth, proxy_headers)
        return WSConnect(
            self._ws_connect(
                URL(url),
                handshake,
                options,
                headers=headers,
                auth=auth,
                timeout=timeout,
                ssl=ssl,
                via=via,
            )
        )

    async def _ws_connect(
        self,
        url: URL,
        handshake: ClientHandshake,
        options: WebSocketOptions,
        *,
        headers: Mapping[str, str] | None,
        auth: BasicAuth | None,
        timeout: ClientTimeout,
        ssl: SSLOption,
        via: _Via,
    ) -> ClientWebSocketResponse:
        request_headers = handshake.request_headers(headers)
        result = await self._upgrade(
            url, request_headers, timeout=timeout, ssl=ssl, auth=auth, via=via
        )
        try:
            ws = handshake.open(result.status, result.headers, result.connection, options)
        except InvalidHandshake as exc:
            info = RequestInfo(url, "GET", CIMultiDictProxy(request_headers), result.url)
            raise WSServerHandshakeError(
                info, status=result.status, message=str(exc), headers=result.headers
            ) from None
        if self._closed:  # close() ran during the handshake and could not see this one
            await ws.close(code=CloseCode.GOING_AWAY)
            raise RuntimeError("Session is closed")
        self._websockets.add(ws)
        return ws

    async def _upgrade(
        self,
        url: URL,
        headers: CIMultiDict[str],
        *,
        timeout: ClientTimeout,
        ssl: SSLOption = None,
        auth: BasicAuth | None = None,
        via: _Via = (None, None, None),
    ) -> _UpgradeResult:
        """Send ``GET url`` with ``headers`` (and the session's) on a connection of its
        own, outside the pool: what answers a 101 is the upgraded protocol's for good."""
        if self._closed:
            raise RuntimeError("Session is closed")
        http_url = self._make_url(url.with_scheme(HTTP_SCHEME_OF.get(url.scheme, url.scheme)), None)
        if not url.is_absolute():  # resolved against base_url, in its ws form
            url = http_url.with_scheme(WS_SCHEME_OF[http_url.scheme])
        route = self._route(url, *via, tunnel=True)  # the upgraded socket outlives a request
        deadline = Deadline(asyncio.get_running_loop(), timeout)
        request_headers = self._request_headers(http_url, headers, auth, None)
        handler, received, _ = await self._exchange(
            "GET",
            http_url,
            request_headers,
            NO_BODY,
            deadline,
            ssl=ssl,
            decompress=False,
            pooled=False,
            route=route,
        )
        if received.status == 101:
            return _UpgradeResult(101, received.reason, received.headers, handler, url)
        try:
            body = await received.content.read_bounded(UPGRADE_ERROR_BODY)
        finally:
            handler.close()
        return _UpgradeResult(received.status, received.reason, received.headers, None, url, body)

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

    def _route(
        self,
        url: URL,
        proxy: StrOrURL | None,
        proxy_auth: BasicAuth | None,
        proxy_headers: ProxyHeaders,
        *,
        tunnel: bool,
    ) -> ProxyRoute | None:
        """The proxy ``url`` (in its own scheme: ws/wss for a WebSocket) goes through:
        the request's, else the session's, else the environment's; None for none."""
        if proxy is None:
            proxy = self._proxy
        if proxy_auth is None:
            proxy_auth = self._proxy_auth
        if proxy is None:
            if not self._trust_env:
                return None
            found = env_proxy(url)
            if found is None:
                return None
            proxy, env_auth = found
            proxy_auth = proxy_auth or env_auth
        headers = tuple(proxy_headers.items()) if proxy_headers else ()
        return proxy_route(URL(proxy), proxy_auth, headers, tunnel=tunnel)

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
    async def _traced(
        self, method: str, str_or_url: StrOrURL, trace_request_ctx: Any, kwargs: dict[str, Any]
    ) -> ClientResponse:
        """``_request`` in the start, end and exception events of the session's traces."""
        if self._closed:
            raise RuntimeError("Session is closed")
        method = method.upper()
        url = self._make_url(str_or_url, kwargs.get("params"))
        traces = tuple(Trace(self, config, trace_request_ctx) for config in self._trace_configs)
        headers = self._request_headers(
            url, kwargs.get("headers"), kwargs.get("auth"), kwargs.get("cookies")
        )
        await emit(traces, "on_request_start", TraceRequestStartParams(method, url, headers))
        try:
            response = await self._request(method, str_or_url, traces=traces, **kwargs)
        except BaseException as error:
            failed = TraceRequestExceptionParams(method, url, headers, error)
            await emit(traces, "on_request_exception", failed)
            raise
        await emit(traces, "on_request_end", TraceRequestEndParams(method, url, headers, response))
        return response

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
        proxy: StrOrURL | None = None,
        proxy_auth: BasicAuth | None = None,
        proxy_headers: ProxyHeaders = None,
        traces: tuple[Trace, ...] = NO_TRACES,
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
            route = self._route(
                url, proxy, proxy_auth, proxy_headers, tunnel=url.scheme in TUNNELLED
            )
            handler, received, set_cookies = await self._exchange(
                method,
                url,
                request_headers,
                body,
                deadline,
                ssl=ssl,
                decompress=decompress,
                route=route,
                traces=traces,
            )
            earlier = tuple(history)
            if received.status == 101:
                handler.release(reusable=False)
                raise ClientResponseError(
                    None,
                    earlier,
                    status=101,
                    message="Unexpected upgrade to another protocol",
                )
            response = ClientResponse(
                method,
                url,
                status=received.status,
                reason=received.reason,
                version=received.version,
                headers=received.headers,
                cookies=set_cookies,
                content=received.content,
                request_info=RequestInfo(url, method, CIMultiDictProxy(request_headers), url),
                history=earlier,
                connection=handler,
            )
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
            if traces:
                redirect = TraceRequestRedirectParams(method, url, request_headers, response)
                await emit(traces, "on_request_redirect", redirect)
            if _becomes_get(response.status, method):
                method, body = "GET", NO_BODY
            if _origin(target) != _origin(url):
                strip_auth = True  # credentials are for the origin they were given for
            url = target.with_fragment(None)
        if traces:  # the final response's body, not the redirects' (which we read)
            response.on_body = body_tracer(traces, method, url)
        if raise_for_status if raise_for_status is not None else self._raise_for_status:
            response.raise_for_status()
        return response

    async def _exchange(
        self,
        method: str,
        url: URL,
        headers: CIMultiDict[str],
        body: Body,
        deadline: Deadline,
        *,
        ssl: SSLOption,
        decompress: bool,
        pooled: bool = True,
        route: ProxyRoute | None = None,
        traces: tuple[Trace, ...] = NO_TRACES,
    ) -> tuple[ResponseHandler, ResponseHead, SimpleCookie]:
        """Send one request and wait for the head of its answer: the one path of
        requests and upgrades. Returns the connection, the head, and the cookies the
        answer set (already stored in the jar).

        A pooled request borrows a connection from the pool and goes again, once, on a
        fresh socket if a reused one turns out dead (see ``_may_retry``). An upgrade
        (``pooled=False``) opens a connection of its own, outside the pool's limits: a
        101 leaves it to the upgraded protocol. A failure closes the connection.

        Through a proxy (``route``), a tunnel is keyed and opened by the connector like
        a direct connection; an absolute-form request goes to the proxy's connection
        with the full URL as its target and the proxy's headers added.
        """
        is_tls = url.scheme == "https"  # an upgrade is requested in its http(s) form too
        tls_option = ssl if is_tls else None
        target = url.raw_path_qs or "/"
        fields: Iterable[tuple[str, str]] = headers.items()
        if route is None:
            key = ConnectionKey(url.raw_host or "", url.port or 80, is_tls, tls_option)
        elif route.tunnel:
            key = ConnectionKey(url.raw_host or "", url.port or 80, is_tls, tls_option, route)
        else:
            key = ConnectionKey(route.host, route.port, False, None, route)
            target = str(url.with_user(None))
            fields = [*fields, *route.headers]
        head = build_head(f"{method} {target} HTTP/1.1", fields)
        chunked = "chunked" in headers.get("Transfer-Encoding", "")
        connector = self._connector
        tracing = SendTrace(traces, method, url, headers) if traces else None
        retried = False
        while True:
            if pooled:
                handler = await connector.connect(key, deadline, fresh=retried, traces=traces)
            else:
                loop_time = asyncio.get_running_loop().time()
                handler = await connector.open(key, deadline, loop_time, traces)
            try:
                received = await _write_request(
                    handler,
                    head=head,
                    body=body,
                    chunked=chunked,
                    deadline=deadline,
                    method=method,
                    decompress=decompress,
                    tracing=tracing,
                )
                break
            except BaseException as error:
                dead = isinstance(error, (ServerDisconnectedError, ClientOSError))
                if retried or not dead or not _may_retry(handler, method, body):
                    handler.release(reusable=False)
                    raise
                retried = True
        cookies = parse_set_cookies(received.headers.getall("set-cookie", ()))
        if cookies:
            self._cookie_jar.update_cookies(cookies, url)
        return handler, received, cookies


async def _write_request(
    handler: ResponseHandler,
    *,
    head: bytes,
    body: Body,
    chunked: bool,
    deadline: Deadline,
    method: str,
    decompress: bool,
    tracing: SendTrace | None,
) -> ResponseHead:
    """Write the request and wait for the response head; a failure drops the exchange."""
    exchange = handler.start(deadline=deadline, is_head=method == "HEAD", decompress=decompress)
    try:
        data = body.data
        if data is None:
            handler.write(head)
            if tracing is not None:
                await tracing.headers_sent()
        elif isinstance(data, bytes):
            raw = data
            if chunked:
                data = encode_chunk(data) + LAST_CHUNK if data else LAST_CHUNK
            if len(data) <= SMALL_BODY:
                handler.write(head + data)
            else:
                handler.write(head)
                handler.write(data)
            if tracing is not None:
                await tracing.headers_sent()
                await tracing.chunk_sent(raw)
        else:
            handler.write(head)
            if tracing is not None:
                await tracing.headers_sent()
            await _stream(handler, data, chunked, deadline, tracing)
        return await handler.read_head()
    except BaseException:
        handler.abandon(exchange)
        raise


async def _stream(
    handler: ResponseHandler,
    data: AsyncIterable[bytes],
    chunked: bool,
    deadline: Deadline,
    tracing: SendTrace | None,
) -> None:
    """Send a streamed body, waiting for the socket to drain between pieces."""
    with guard(deadline.limit(None)):
        async for chunk in data:
            if chunk:
                handler.write(encode_chunk(chunk) if chunked else chunk)
                if tracing is not None:
                    await tracing.chunk_sent(chunk)
                await handler.drain()
        if chunked:
            handler.write(LAST_CHUNK)
