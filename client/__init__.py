"""tidewire's HTTP client, with aiohttp's names: ``ClientSession``, ``ClientTimeout``, ..."""

from tidewire.client.websocket import ClientWebSocketResponse, WSConnect
from tidewire.protocol import WSCloseCode, WSMessage, WSMsgType

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
    "ClientWebSocketResponse",
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
    "WSCloseCode",
    "WSConnect",
    "WSMessage",
    "WSMsgType",
    "WSServerHandshakeError",
]
