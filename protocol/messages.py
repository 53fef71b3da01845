"""The messages a WebSocket hands to users, with aiohttp's names and values.

A message is a named tuple ``(type, data, extra)``, one class per kind, so that a
type checker knows what ``data`` holds once ``type`` is checked::

    msg = await ws.receive()
    if msg.type is WSMsgType.TEXT:
        msg.data  # str
    elif msg.type is WSMsgType.BINARY:
        msg.data  # bytes

``WSMessage`` is the union of the kinds, the type to annotate with; ``==``, ``in``
and ``match`` on ``msg.type`` narrow it as ``is`` does. Messages compare and hash as
the plain tuples they are.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import IntEnum
from typing import Any, Literal, NamedTuple, TypeAlias

Loads = Callable[[Any], Any]


class WSMsgType(IntEnum):
    """What a message carries: a data or control opcode's value, or a local state.

    The values are aiohttp's. ``receive()`` returns TEXT, BINARY, PING and PONG (the
    last two only with ``autoping=False``), CLOSE (the peer's close frame), ERROR (the
    connection failed) and CLOSED (it is over: every later receive returns it).
    """

    CONTINUATION = 0x0
    """Never emitted: fragments are assembled, a message arrives whole."""
    TEXT = 0x1
    """A text message: ``data`` is its ``str``."""
    BINARY = 0x2
    """A binary message: ``data`` is its ``bytes``."""
    CLOSE = 0x8
    """The peer's close frame: ``data`` is its code, ``extra`` its reason."""
    PING = 0x9
    """A ping (seen with ``autoping=False``): ``data`` is its payload."""
    PONG = 0xA
    """A pong (seen with ``autoping=False``): ``data`` is its payload."""
    CLOSING = 0x100
    """Never emitted: a receive while our ``close()`` waits gets the peer's answer
    (CLOSE), then CLOSED, instead."""
    CLOSED = 0x101
    """The connection is over; ``data`` and ``extra`` are None."""
    ERROR = 0x102
    """The connection failed: ``data`` is the exception (also ``ws.exception()``)."""


class WSMessageText(NamedTuple):
    """A text message: ``data`` is the whole message as ``str``."""

    type: Literal[WSMsgType.TEXT]
    data: str
    extra: None = None

    def json(self, *, loads: Loads = json.loads) -> Any:
        """The message decoded as JSON by ``loads``; raises what ``loads`` raises."""
        return loads(self.data)


class WSMessageBinary(NamedTuple):
    """A binary message: ``data`` is the whole message as ``bytes``."""

    type: Literal[WSMsgType.BINARY]
    data: bytes
    extra: None = None

    def json(self, *, loads: Loads = json.loads) -> Any:
        """The message (UTF-8) decoded as JSON by ``loads``; raises what ``loads`` raises."""
        return loads(self.data)


class WSMessagePing(NamedTuple):
    """A ping the peer sent, seen only with ``autoping=False``: answer it with ``pong``."""

    type: Literal[WSMsgType.PING]
    data: bytes
    extra: None = None

    def json(self, *, loads: Loads = json.loads) -> Any:
        """The payload decoded as JSON by ``loads``, which aiohttp offers on any message."""
        return loads(self.data)


class WSMessagePong(NamedTuple):
    """A pong the peer sent, seen only with ``autoping=False``."""

    type: Literal[WSMsgType.PONG]
    data: bytes
    extra: None = None

    def json(self, *, loads: Loads = json.loads) -> Any:
        """The payload decoded as JSON by ``loads``, which aiohttp offers on any message."""
        return loads(self.data)


class WSMessageClose(NamedTuple):
    """The peer's close frame: ``data`` is its close code (1005 when it sent none),
    ``extra`` its reason. Taking it from ``receive()`` sends our answer."""

    type: Literal[WSMsgType.CLOSE]
    data: int
    extra: str

    def json(self, *, loads: Loads = json.loads) -> Any:
        """``loads(data)``, as aiohttp has it: ``json.loads`` raises TypeError on a code."""
        return loads(self.data)


class WSMessageClosed(NamedTuple):
    """The connection is over; every later ``receive()`` returns this too."""

    type: Literal[WSMsgType.CLOSED]
    data: None = None
    extra: None = None

    def json(self, *, loads: Loads = json.loads) -> Any:
        """``loads(None)``, as aiohttp has it: ``json.loads`` raises TypeError."""
        return loads(self.data)


class WSMessageError(NamedTuple):
    """The connection failed: ``data`` is why (a ``ProtocolError`` with the close code
    we answer with, or a ``WebSocketTimeoutError`` when the heartbeat got no pong)."""

    type: Literal[WSMsgType.ERROR]
    data: Exception
    extra: None = None

    def json(self, *, loads: Loads = json.loads) -> Any:
        """``loads(data)``, as aiohttp has it: ``json.loads`` raises TypeError."""
        return loads(self.data)


WSMessage: TypeAlias = (
    WSMessageText
    | WSMessageBinary
    | WSMessagePing
    | WSMessagePong
    | WSMessageClose
    | WSMessageClosed
    | WSMessageError
)
"""One received message, whatever its kind: annotate with it, build a kind's class.

Check ``msg.type`` and ``msg.data`` has that kind's type: ``str`` for TEXT, ``bytes``
for BINARY, PING and PONG, the close code (``int``) for CLOSE, the exception for
ERROR, None for CLOSED. ``isinstance(x, WSMessage)`` works too.
"""

CLOSED_MESSAGE = WSMessageClosed(WSMsgType.CLOSED)
"""The message of a connection that is over: shared, since it carries nothing."""
