"""``WebSocketResponse``: the server's side of the opening handshake.

A handler creates one, ``await ws.prepare(request)`` validates the upgrade with
``protocol.handshake``, sends the 101 through the ordinary response path and takes
the socket over from the HTTP protocol; the message API is the shared ``WebSocket``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from tidewire.protocol.connection import Role
from tidewire.protocol.deflate import ServerDeflate
from tidewire.protocol.errors import InvalidHandshake
from tidewire.protocol.handshake import ServerAccept, accept_request
from tidewire.protocol.options import DEFAULT_MAX_MSG_SIZE, shared_options
from tidewire.protocol.websocket import WebSocket

from .exceptions import (
    HTTPBadRequest,
    HTTPException,
    HTTPForbidden,
    HTTPMethodNotAllowed,
    HTTPUpgradeRequired,
)
from .response import BodyBytes, StreamResponse

if TYPE_CHECKING:
    from .request import Request

OriginCheck = Callable[[str | None], bool]
"""The ``origin_check`` of a ``WebSocketResponse``: called with the request's Origin
header (None without one), it returns False to refuse the upgrade with 403."""


class WebSocketReady(NamedTuple):
    """What ``can_prepare`` found: ``ok``, whether ``prepare`` would accept the
    request, and ``protocol``, the subprotocol it would choose (None: none)."""

    ok: bool
    protocol: str | None


class WebSocketResponse(StreamResponse, WebSocket):
    """A server WebSocket: ``await ws.prepare(request)``, then ``async for msg in
    ws``, ``send_*``, ``close``: the message API is ``WebSocket``'s.

    - ``protocols``: the subprotocols we speak, in our order of preference; the first
      the client offers too is chosen (``ws.protocol``).
    - ``heartbeat``: ping after that many idle seconds; no pong within half of it
      fails the connection (an ERROR message, close code 1006). None: no pings.
    - ``compress``: accept permessage-deflate when the client offers it;
      ``server_no_context_takeover`` compresses every message on its own, which lets
      a publisher share one framed copy among subscribers; messages shorter than
      ``compress_threshold`` bytes go uncompressed.
    - ``max_msg_size``: a bigger received message fails the connection with 1009
      (0: no limit).
    - ``autoping``: answer pings ourselves and keep pings and pongs from ``receive``.
    - ``receive_timeout``: the default wait of ``receive`` (None: no limit).
    - ``timeout``: the closing handshake's wait for the peer (``close_timeout``).
    - ``origin_check``: see ``OriginCheck``.
    - ``max_queue``: received messages held for the handler before reading pauses.

    Cookies set before ``prepare`` go out with the 101; after it, HTTP body writes
    and cookies raise RuntimeError. Raises ValueError for an option out of range.
    """

    def __init__(
        self,
        *,
        protocols: Sequence[str] = (),
        heartbeat: float | None = None,
        compress: bool = True,
        max_msg_size: int = DEFAULT_MAX_MSG_SIZE,
        autoping: bool = True,
        receive_timeout: float | None = None,
        timeout: float = 10.0,
        origin_check: OriginCheck | None = None,
        compress_threshold: int = 64,
        server_no_context_takeover: bool = False,
        max_queue: int = 16,
    ) -> None:
        StreamResponse.__init__(self, status=101)
        options = shared_options(
            max_msg_size=max_msg_size,
            compress_threshold=compress_threshold,
            heartbeat=heartbeat,
            autoping=autoping,
            receive_timeout=receive_timeout,
            close_timeout=timeout,
            max_queue=max_queue,
        )
        WebSocket.__init__(self, Role.SERVER, options)
        self._protocols = tuple(protocols)
        self._origin_check = origin_check
        self._deflate = _DEFLATE[server_no_context_takeover] if compress else None

    def _accept(self, request: Request) -> ServerAccept:
        if self._origin_check is not None and not self._origin_check(request.headers.get("Origin")):
            raise HTTPForbidden(text="WebSocket origin not allowed")
        try:
            return accept_request(
                request.method, request.headers, protocols=self._protocols, deflate=self._deflate
            )
        except InvalidHandshake as exc:
            raise _refusal(exc, request.method) from None

    def can_prepare(self, request: Request) -> WebSocketReady:
        """Whether ``prepare`` would accept ``request``, and the subprotocol it would
        choose; nothing is sent, nothing raised."""
        try:
            accepted = self._accept(request)
        except HTTPException:
            return WebSocketReady(False, None)
        return WebSocketReady(True, accepted.agreement.subprotocol)

    async def prepare(self, request: Request) -> None:
        """Send the 101 (with the cookies set so far) and take the connection over.

        Raises an HTTPException (400, 403, 405 or 426) that the server answers when the
        upgrade is refused, ConnectionResetError when the client left meanwhile."""
        if self.prepared:
            return
        accepted = self._accept(request)
        self.headers.extend(accepted.headers)
        await StreamResponse.prepare(self, request)
        transport = request.transport
        if transport is None:
            raise ConnectionResetError("the client went away during the handshake")
        tail = request.protocol.upgrade(self)
        self.start(
            transport,
            tail,
            deflate=accepted.agreement.deflate,
            subprotocol=accepted.agreement.subprotocol,
        )

    # -- what an HTTP response offers and a WebSocket cannot do -------------------

    async def write(self, data: BodyBytes) -> None:
        """Not for a WebSocket, which has no HTTP body: raises RuntimeError. Send
        messages with ``send_str``, ``send_bytes`` or ``send_json``."""
        raise RuntimeError(f"{_NO_BODY}: send messages with send_str/send_bytes/send_json")

    async def drain(self) -> None:
        """Wait while the peer reads slower than we send (the socket's write buffer is
        past its high-water mark); ``send_*`` already wait so, which is why a handler
        rarely needs this. Raises ``ConnectionClosed`` (a ``ConnectionResetError``) if
        the connection is lost meanwhile."""
        if self.writing_paused:
            await self._drain()

    async def write_eof(self, data: BodyBytes = b"") -> None:
        """Close the WebSocket (code 1000), as aiohttp does; ``data`` cannot be sent
        (RuntimeError), nor anything before ``prepare()``."""
        if data:
            raise RuntimeError(f"{_NO_BODY}: send messages with send_str/send_bytes/send_json")
        if not self.prepared:
            raise RuntimeError("call prepare() before write_eof()")
        await self.close()


_NO_BODY = "a WebSocketResponse has no HTTP body"


# Frozen, so shared: one per setting rather than one per connection.
_DEFLATE = {nct: ServerDeflate(server_no_context_takeover=nct) for nct in (False, True)}


def _refusal(exc: InvalidHandshake, method: str) -> HTTPException:
    if exc.status == 405:
        return HTTPMethodNotAllowed(method, ("GET",), text=str(exc))
    if exc.status == 426:
        return HTTPUpgradeRequired(headers=exc.headers, text=str(exc))
    return HTTPBadRequest(headers=exc.headers, text=str(exc))
