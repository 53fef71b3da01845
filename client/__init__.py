"""tidewire's HTTP client, with aiohttp's names: ``ClientSession``, ``ClientTimeout``, ..."""

from .auth import BasicAuth
from .connector import TCPConnector
from .cookies import CookieJar
from .exceptions import (
    ClientConnectionError,
    ClientConnectorCertificateError,
    ClientConnectorError,
    ClientError,
    ClientOSError,
    ClientPayloadError,
    ClientResponseError,
    ConnectionTimeoutError,
    ContentTypeError,
    InvalidURL,
    RequestInfo,
    ServerDisconnectedError,
    ServerTimeoutError,
    SocketTimeoutError,
    TooManyRedirects,
    WSServerHandshakeError,
)
from .formdata import FormData
from .response import ClientResponse, StreamReader
from .session import ClientSession, UpgradeResult
from .timeouts import ClientTimeout

# --- WebSocket client names (ws_connect, ClientWebSocketResponse, WSMsgType, ...) ---
# The lead engineer adds these here, from .websocket.

__all__ = [
    "BasicAuth",
    "ClientConnectionError",
    "ClientConnectorCertificateError",
    "ClientConnectorError",
    "ClientError",
    "ClientOSError",
    "ClientPayloadError",
    "ClientResponse",
    "ClientResponseError",
    "ClientSession",
    "ClientTimeout",
    "ConnectionTimeoutError",
    "ContentTypeError",
    "CookieJar",
    "FormData",
    "InvalidURL",
    "RequestInfo",
    "ServerDisconnectedError",
    "ServerTimeoutError",
    "SocketTimeoutError",
    "StreamReader",
    "TCPConnector",
    "TooManyRedirects",
    "UpgradeResult",
    "WSServerHandshakeError",
]
