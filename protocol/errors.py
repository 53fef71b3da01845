"""The exceptions users catch, one hierarchy for both sides."""

from __future__ import annotations

import asyncio


class WebSocketError(Exception):
    """Base of every WebSocket error tidewire raises: catch it for all of them."""


class ProtocolError(WebSocketError):
    """The peer broke RFC 6455 or RFC 7692; ``code`` is the close code we answer with
    (1002 by default, 1007 for invalid UTF-8, 1009 for a message too big).

    It reaches the application as an ERROR message's ``data``, not raised: the
    connection fails and closes with ``code``. The client's handshake checks raise it.
    """

    def __init__(self, message: str, code: int = 1002) -> None:
        super().__init__(message)
        self.code = code


class PayloadTooBig(ProtocolError):
    """A message would exceed the configured maximum size (close 1009)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 1009)


class InvalidHandshake(WebSocketError):
    """An opening handshake was refused: ``status`` and ``headers`` are the HTTP
    answer the server sends (400, or 426 with the supported version), the message why."""

    def __init__(
        self,
        message: str,
        status: int = 400,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers


class ConnectionClosed(WebSocketError, ConnectionResetError):
    """Raised by a send on a WebSocket that is closing or closed; ``code`` and
    ``reason`` are the connection's close code and reason (1006 when it was lost).

    It is a ConnectionResetError too, which is what aiohttp users already catch.
    """

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"WebSocket is closed (code={code}, reason={reason!r})")
        self.code = code
        self.reason = reason


class WebSocketTimeoutError(WebSocketError, asyncio.TimeoutError):
    """No pong came back within the heartbeat's deadline, so the connection failed.

    It arrives as an ERROR message's ``data`` and as ``ws.exception()``; the close
    code is then 1006. It is an ``asyncio.TimeoutError`` too, which is what aiohttp
    users already catch.
    """
