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
from tidewire.protocol.options import DEFAULT_MAX_MSG_SIZE, WebSocketOptions
from tidewire.protocol.websocket import WebSocket

from .exceptions import (
    HTTPBadRequest,
    HTTPException,
    HTTPForbidden,
    HTTPMethodNotAllowed,
    HTTPUpgradeRequired,
)
from .response import StreamResponse

if TYPE_CHECKING:
    from .request import Request

OriginCheck = Callable[[str | None], bool]


class WebSocketReady(NamedTuple):
    """What ``can_prepare`` found: whether the upgrade would succeed, and the subprotocol."""

    ok: bool
    protocol: str | None


class WebSocketResponse(StreamResponse, WebSocket):
    """A server WebSocket: ``async for msg in ws``, ``send_*``, ``close``.

    ``compress`` offers permessage-deflate; ``server_no_context_takeover`` compresses
    every message on its own, which lets a publisher share one framed copy among
    subscribers. ``origin_check`` receives the Origin header (or None) and refuses the
    upgrade with 403 when it returns False. ``max_msg_size=0`` means no limit.
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
        options = WebSocketOptions(
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
        """Would ``prepare`` accept this request? Nothing is sent."""
        try:
            accepted = self._accept(request)
        except HTTPException:
            return WebSocketReady(False, None)
        return WebSocketReady(True, accepted.agreement.subprotocol)

    async def prepare(self, request: Request) -> None:
        """Send the 101 and take the connection over; raises an HTTPException (400,
        403, 405 or 426) that the server answers when the upgrade is refused."""
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


# Frozen, so shared: one per setting rather than one per connection.
_DEFLATE = {nct: ServerDeflate(server_no_context_takeover=nct) for nct in (False, True)}


def _refusal(exc: InvalidHandshake, method: str) -> HTTPException:
    if exc.status == 405:
        return HTTPMethodNotAllowed(method, ("GET",), text=str(exc))
    if exc.status == 426:
        return HTTPUpgradeRequired(headers=exc.headers, text=str(exc))
    return HTTPBadRequest(headers=exc.headers, text=str(exc))
