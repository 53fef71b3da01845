"""tidewire's HTTP and WebSocket client, with aiohttp's names.

``ClientSession`` sends requests (``get``, ``post``, ...) and opens WebSockets
(``ws_connect``); ``ClientTimeout`` bounds them, ``BasicAuth`` and ``CookieJar`` go with
them, and the ``Client*Error`` family says what went wrong. Requests and WebSockets go
through HTTP proxies (``proxy=``, ``trust_env=True``); ``TraceConfig`` lets
instrumentation follow each request.
"""

from tidewire.protocol import WSCloseCode, WSMessage, WSMsgType

from .auth import BasicAuth
from .connector import TCPConnector
from .cookies import CookieJar
from .exceptions import (
    ClientConnectionError,
    ClientConnectorCertificateError,
    ClientConnectorError,
    ClientError,
    ClientHttpProxyError,
    ClientOSError,
    ClientPayloadError,
    ClientProxyConnectionError,
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
from .response import ClientResponse
from .session import ClientSession
from .streams import ResponseStream
from .timeouts import ClientTimeout
from .tracing import (
    TraceConfig,
    TraceConnectionCreateEndParams,
    TraceConnectionCreateStartParams,
    TraceConnectionQueuedEndParams,
    TraceConnectionQueuedStartParams,
    TraceConnectionReuseconnParams,
    TraceDnsCacheHitParams,
    TraceDnsCacheMissParams,
    TraceDnsResolveHostEndParams,
    TraceDnsResolveHostStartParams,
    TraceRequestChunkSentParams,
    TraceRequestEndParams,
    TraceRequestExceptionParams,
    TraceRequestHeadersSentParams,
    TraceRequestRedirectParams,
    TraceRequestStartParams,
    TraceResponseChunkReceivedParams,
    TraceSignal,
)
from .websocket import ClientWebSocketResponse, WSConnect

StreamReader = ResponseStream
"""aiohttp's name for the type of ``response.content``: the same class as
``ResponseStream``, the body of a response read as it arrives."""

__all__ = [
    "BasicAuth",
    "ClientConnectionError",
    "ClientConnectorCertificateError",
    "ClientConnectorError",
    "ClientError",
    "ClientHttpProxyError",
    "ClientOSError",
    "ClientPayloadError",
    "ClientProxyConnectionError",
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
    "ResponseStream",
    "ServerDisconnectedError",
    "ServerTimeoutError",
    "SocketTimeoutError",
    "StreamReader",
    "TCPConnector",
    "TooManyRedirects",
    "TraceConfig",
    "TraceConnectionCreateEndParams",
    "TraceConnectionCreateStartParams",
    "TraceConnectionQueuedEndParams",
    "TraceConnectionQueuedStartParams",
    "TraceConnectionReuseconnParams",
    "TraceDnsCacheHitParams",
    "TraceDnsCacheMissParams",
    "TraceDnsResolveHostEndParams",
    "TraceDnsResolveHostStartParams",
    "TraceRequestChunkSentParams",
    "TraceRequestEndParams",
    "TraceRequestExceptionParams",
    "TraceRequestHeadersSentParams",
    "TraceRequestRedirectParams",
    "TraceRequestStartParams",
    "TraceResponseChunkReceivedParams",
    "TraceSignal",
    "WSCloseCode",
    "WSConnect",
    "WSMessage",
    "WSMsgType",
    "WSServerHandshakeError",
]
