"""The client's side of the WebSocket opening handshake, and the WebSocket it opens.

``ClientSession.ws_connect`` owns the exchange: it sends the upgrade request on a
connection of its own, and keeps the registry of the WebSockets it opened, to close
them with the session. This module knows nothing of the session; it adds the
WebSocket headers to the request (``ClientHandshake.request_headers``), checks the 101
with ``protocol.handshake`` and hands the socket to a ``ClientWebSocketResponse``
(``ClientHandshake.open``): the message API is the shared ``WebSocket``'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from multidict import CIMultiDict, CIMultiDictProxy

from tidewire.protocol.connection import Role
from tidewire.protocol.deflate import ClientDeflate
from tidewire.protocol.handshake import check_response, generate_key, request_headers
from tidewire.protocol.options import WebSocketOptions
from tidewire.protocol.websocket import WebSocket

from .context import AwaitableContext
from .protocol import ResponseHandler

MIN_WINDOW_BITS = 8
"""The smallest deflate window RFC 7692 lets a client offer; ``compress=0`` offers none."""
MAX_WINDOW_BITS = 15


class ClientWebSocketResponse(WebSocket):
    """A connected client WebSocket, as ``ws_connect`` returns it.

    Everything it does is the shared ``tidewire.protocol.WebSocket``'s: ``send_str``,
    ``send_bytes``, ``send_json``, ``receive*``, ``async for msg in ws``, ``ping``,
    ``close``. Used as ``async with ws:``, it closes on the way out; its session also
    closes it (code 1001, going away) when the session closes.
    """

    __slots__ = ("__weakref__",)  # its session keeps a weak reference, to close it

    async def __aenter__(self) -> ClientWebSocketResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class WSConnect(AwaitableContext[ClientWebSocketResponse]):
    """What ``ws_connect`` returns: ``ws = await session.ws_connect(url)``, or
    ``async with session.ws_connect(url) as ws:``, which closes the WebSocket when the
    block ends. Nothing is sent until it is awaited or entered."""

    __slots__ = ()

    async def _end(self, value: ClientWebSocketResponse) -> None:
        await value.close()


class ClientHandshake:
    """The client's half of one opening handshake (RFC 6455, section 4.1): the headers
    of the upgrade request, then the check of the answer and the WebSocket it opens.

    ``compress`` is the deflate window offered, in bits (0: no compression offered).
    Raises ``ValueError`` for a window outside 8..15, before anything is sent.
    """

    __slots__ = ("_deflate", "_key", "_origin", "_protocols")

    def __init__(self, *, protocols: Sequence[str], compress: int, origin: str | None) -> None:
        if compress and not MIN_WINDOW_BITS <= compress <= MAX_WINDOW_BITS:
            raise ValueError(
                f"compress must be 0 (off) or a window of {MIN_WINDOW_BITS} to"
                f" {MAX_WINDOW_BITS} bits, not {compress}"
            )
        self._key = generate_key()
        self._protocols = tuple(protocols)
        self._deflate = ClientDeflate(client_max_window_bits=compress) if compress else None
        self._origin = origin

    def request_headers(self, headers: Mapping[str, str] | None) -> CIMultiDict[str]:
        """The user's ``headers`` with the handshake's own (key, version, offers) set
        over them."""
        merged: CIMultiDict[str] = CIMultiDict(headers or {})
        for name, value in request_headers(
            self._key, protocols=self._protocols, deflate=self._deflate, origin=self._origin
        ):
            merged[name] = value
        return merged

    def open(
        self,
        status: int,
        headers: CIMultiDictProxy[str],
        connection: ResponseHandler | None,
        options: WebSocketOptions,
    ) -> ClientWebSocketResponse:
        """The WebSocket the server's answer opens, running on ``connection``'s socket.

        Raises ``InvalidHandshake`` for anything but a 101 that accepts our key and
        agrees to what we offered; the connection is then closed.
        """
        try:
            agreement = check_response(
                status, headers, self._key, protocols=self._protocols, deflate=self._deflate
            )
        except BaseException:
            if connection is not None:
                connection.close()
            raise
        assert connection is not None, "a 101 comes with its connection"
        ws = ClientWebSocketResponse(Role.CLIENT, options)
        transport, tail = connection.detach(ws)
        ws.start(transport, tail, deflate=agreement.deflate, subprotocol=agreement.subprotocol)
        return ws
