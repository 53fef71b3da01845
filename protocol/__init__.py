"""Sans-I/O WebSocket protocol core (RFC 6455, RFC 7692) shared by server and client.

Everything here works on bytes and events, except ``websocket.WebSocket``, the one
asyncio class both sides hand their connection to after the opening handshake.
"""

from .close import CloseCode
from .connection import Connection, Role, State, Teardown
from .deflate import ClientDeflate, DeflateParams, ServerDeflate
from .errors import (
    ConnectionClosed,
    InvalidHandshake,
    PayloadTooBig,
    ProtocolError,
    WebSocketError,
    WebSocketTimeoutError,
)
from .messages import (
    WSMessage,
    WSMessageBinary,
    WSMessageClose,
    WSMessageClosed,
    WSMessageError,
    WSMessagePing,
    WSMessagePong,
    WSMessageText,
    WSMsgType,
)
from .stats import MessageStats
from .websocket import WebSocket

WSCloseCode = CloseCode
"""aiohttp's name for ``CloseCode``, the close codes of RFC 6455 section 7.4."""

__all__ = [
    "ClientDeflate",
    "CloseCode",
    "Connection",
    "ConnectionClosed",
    "DeflateParams",
    "InvalidHandshake",
    "MessageStats",
    "PayloadTooBig",
    "ProtocolError",
    "Role",
    "ServerDeflate",
    "State",
    "Teardown",
    "WSCloseCode",
    "WSMessage",
    "WSMessageBinary",
    "WSMessageClose",
    "WSMessageClosed",
    "WSMessageError",
    "WSMessagePing",
    "WSMessagePong",
    "WSMessageText",
    "WSMsgType",
    "WebSocket",
    "WebSocketError",
    "WebSocketTimeoutError",
]
