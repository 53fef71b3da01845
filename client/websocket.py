"""``session.ws_connect``: the client's side of the opening handshake.

The session opens a fresh connection and sends the upgrade request; this module adds
the WebSocket headers, checks the 101 with ``protocol.handshake`` and hands the
transport to the shared ``WebSocket``: the message API is the server's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from tidewire.protocol.connection import Role
from tidewire.protocol.deflate import ClientDeflate
from tidewire.protocol.errors import InvalidHandshake
from tidewire.protocol.handshake import check_response, generate_key, request_headers
from tidewire.protocol.options import DEFAULT_MAX_MSG_SIZE, WebSocketOptions
from tidewire.protocol.websocket import WebSocket

from .context import AwaitableContext
from .exceptions import RequestInfo, WSServerHandshakeError
from .timeouts import ClientTimeout

if TYPE_CHECKING:
    import ssl

    from .auth import BasicAuth
    from .session import ClientSession

DEFAULT_TIMEOUT = ClientTimeout(total=30.0)


class ClientWebSocketResponse(WebSocket):
    """A connected client WebSocket; ``async with`` closes it on the way out."""

    __slots__ = ("__weakref__",)  # its session keeps a weak reference, to close it

    async def __aenter__(self) -> ClientWebSocketResponse:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class WSConnect(AwaitableContext[ClientWebSocketResponse]):
    """What ``ws_connect`` returns: await it, or use it as ``async with``."""

    __slots__ = ()

    async def _end(self, value: ClientWebSocketResponse) -> None:
        await value.close()


def ws_connect(
    session: ClientSession,
    url: str | URL,
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
    ssl: ssl.SSLContext | bool | None = None,
) -> WSConnect:
    """Open a WebSocket. ``compress`` is the deflate window we offer (0: none);
    ``max_msg_size=0`` means no limit; ``timeout`` bounds the handshake; ``max_queue``
    unread messages pause reading from the socket."""
    options = WebSocketOptions(
        max_msg_size=max_msg_size,
        heartbeat=heartbeat,
        autoping=autoping,
        receive_timeout=receive_timeout,
        close_timeout=close_timeout,
        max_queue=max_queue,
    )
    return WSConnect(
        _connect(
            session,
            URL(url),
            options,
            protocols=protocols,
            compress=compress,
            headers=headers,
            auth=auth,
            origin=origin,
            timeout=timeout,
            ssl=ssl,
        )
    )


async def _connect(
    session: ClientSession,
    url: URL,
    options: WebSocketOptions,
    *,
    protocols: Sequence[str],
    compress: int,
    headers: Mapping[str, str] | None,
    auth: BasicAuth | None,
    origin: str | None,
    timeout: ClientTimeout | float | None,
    ssl: ssl.SSLContext | bool | None,
) -> ClientWebSocketResponse:
    if isinstance(timeout, (int, float)):
        timeout = ClientTimeout(total=timeout)
    key = generate_key()
    deflate = ClientDeflate(client_max_window_bits=compress) if compress else None
    all_headers: CIMultiDict[str] = CIMultiDict(headers or {})
    for name, value in request_headers(key, protocols=protocols, deflate=deflate, origin=origin):
        all_headers[name] = value
    result = await session._upgrade(
        url, all_headers, timeout=timeout or DEFAULT_TIMEOUT, ssl=ssl, auth=auth
    )
    try:
        agreement = check_response(
            result.status, result.headers, key, protocols=protocols, deflate=deflate
        )
        if result.transport is None:
            raise InvalidHandshake("the connection closed during the handshake", result.status)
    except InvalidHandshake as exc:
        if result.transport is not None:
            result.transport.close()
        info = RequestInfo(url, "GET", CIMultiDictProxy(all_headers), result.url)
        raise WSServerHandshakeError(
            info, status=result.status, message=str(exc), headers=result.headers
        ) from None
    ws = ClientWebSocketResponse(Role.CLIENT, options)
    result.transport.set_protocol(ws)
    ws.start(
        result.transport,
        result.tail,
        deflate=agreement.deflate,
        subprotocol=agreement.subprotocol,
    )
    session._websockets.add(ws)
    return ws
