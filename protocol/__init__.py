"""Sans-I/O WebSocket protocol core (RFC 6455, RFC 7692) shared by server and client.

Everything here works on bytes and events, except ``websocket.WebSocket``, the one
asyncio class both sides hand their connection to after the opening handshake.
"""

from .close import CloseCode
from .connection import Connection, Role, State
from .deflate import ClientDeflate, DeflateParams, ServerDeflate
from .errors import (
    ConnectionClosed,
    InvalidHandshake,
    PayloadTooBig,
    ProtocolError,
    WebSocketError,
)
from .messages import WSMessage, WSMsgType
from .websocket import WebSocket, WebSocketTimeoutError

WSCloseCode = CloseCode

__all__ = [
    "ClientDeflate",
    "CloseCode",
    "Connection",
    "ConnectionClosed",
    "DeflateParams",
    "InvalidHandshake",
    "PayloadTooBig",
    "ProtocolError",
    "Role",
    "ServerDeflate",
    "State",
    "WSCloseCode",
    "WSMessage",
    "WSMsgType",
    "WebSocket",
    "WebSocketError",
    "WebSocketTimeoutError",
]
