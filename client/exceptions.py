"""The client's exception hierarchy, shaped like aiohttp's so existing ``except`` clauses work."""

from __future__ import annotations

import asyncio
from typing import NamedTuple

from multidict import CIMultiDictProxy
from yarl import URL


class RequestInfo(NamedTuple):
    """What was asked: carried by errors and responses so a failure can say which request."""

    url: URL
    method: str
    headers: CIMultiDictProxy[str]
    real_url: URL


class ClientError(Exception):
    """Base of every error the client raises."""


class InvalidURL(ClientError, ValueError):
    """The URL cannot be requested (no host, or a scheme the client does not speak)."""


class ClientConnectionError(ClientError):
    """Something went wrong with the connection itself, not with the HTTP exchange."""


class ClientOSError(ClientConnectionError, OSError):
    """An operating-system error on the socket."""


class ClientConnectorError(ClientOSError):
    """Opening the connection failed: DNS, refused, unreachable, TLS handshake."""

    def __init__(self, host: str, port: int, os_error: OSError) -> None:
        super().__init__(os_error.errno, f"Cannot connect to host {host}:{port} [{os_error}]")
        self.host = host
        self.port = port
        self.os_error = os_error

    def __str__(self) -> str:
        return str(self.strerror)


class ClientConnectorCertificateError(ClientConnectorError):
    """The server's TLS certificate failed verification."""


class ClientProxyConnectionError(ClientConnectorError):
    """The proxy could not be reached, or broke the connection before a tunnel was open;
    ``host`` and ``port`` are the proxy's."""


class ServerDisconnectedError(ClientConnectionError):
    """The server closed the connection before the response was complete."""

    def __init__(self, message: str = "Server disconnected") -> None:
        super().__init__(message)


class ServerTimeoutError(ClientConnectionError, asyncio.TimeoutError):
    """A ``ClientTimeout`` budget ran out; also an ``asyncio.TimeoutError`` as in aiohttp."""


class ConnectionTimeoutError(ServerTimeoutError):
    """The ``connect`` or ``sock_connect`` budget ran out before a connection was ready."""


class SocketTimeoutError(ServerTimeoutError):
    """The ``sock_read`` budget ran out while waiting for bytes from the server."""


class ClientPayloadError(ClientError):
    """The response body was cut short or could not be decoded."""


class ClientResponseError(ClientError):
    """An HTTP-level failure: an error status, or a response the client cannot use."""

    def __init__(
        self,
        request_info: RequestInfo | None,
        history: tuple[object, ...] = (),
        *,
        status: int = 0,
        message: str = "",
        headers: CIMultiDictProxy[str] | None = None,
    ) -> None:
        super().__init__(request_info, history, status, message, headers)
        self.request_info = request_info
        self.history = history
        self.status = status
        self.message = message
        self.headers = headers

    def __str__(self) -> str:
        url = f", url={str(self.request_info.real_url)!r}" if self.request_info else ""
        return f"{self.status}, message={self.message!r}{url}"


class ContentTypeError(ClientResponseError):
    """``json()`` was asked of a response whose Content-Type is not JSON."""


class TooManyRedirects(ClientResponseError):
    """More redirects than ``max_redirects`` were followed."""


class ClientHttpProxyError(ClientResponseError):
    """The proxy refused to open a tunnel (its answer to CONNECT was not 2xx): ``status``
    is its status (407: proxy credentials missing or wrong; 403: a target it does not
    tunnel to), ``headers`` its headers, ``request_info`` the CONNECT sent to it."""


class WSServerHandshakeError(ClientResponseError):
    """The server did not accept the WebSocket opening handshake."""
