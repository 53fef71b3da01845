"""``ClientResponse``: one received response, its head at once and its body to read."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any

from multidict import CIMultiDictProxy
from yarl import URL

from tidewire.protocol.http import ContentHeaders

from .exceptions import ClientResponseError, ContentTypeError, RequestInfo
from .streams import ResponseStream

if TYPE_CHECKING:
    from .protocol import ResponseHandler


_JSON_TYPE = re.compile(r"application/(?:[\w.-]+\+)?json", re.ASCII)


def _expected_type(actual: str, expected: str) -> bool:
    """Whether ``json()`` may read a body of media type ``actual``: any JSON type (RFC
    6839's ``+json`` suffix) when ``application/json`` is expected, else ``expected``
    found in it."""
    if expected == "application/json":
        return _JSON_TYPE.fullmatch(actual) is not None
    return expected in actual


class ClientResponse(ContentHeaders):
    """One received response: what ``await session.get(url)`` gives.

    The head is there at once: ``status``, ``reason``, ``version``, ``headers``,
    ``cookies`` (what its Set-Cookie headers set), ``url``, ``method``, ``history``
    (the redirects followed to get here) and ``request_info``. The body is read with
    ``read()``, ``text()`` or ``json()``, or streamed from ``content``. The connection
    goes back to the pool once the body is read whole; ``release()`` (or leaving
    ``async with``) gives it up earlier, closing it if the body was not complete.
    """

    __slots__ = (
        "_body",
        "_connection",
        "_content_type",
        "content",
        "cookies",
        "headers",
        "history",
        "method",
        "on_body",
        "reason",
        "request_info",
        "status",
        "url",
        "version",
    )

    def __init__(
        self,
        method: str,
        url: URL,
        *,
        status: int,
        reason: str,
        version: str,
        headers: CIMultiDictProxy[str],
        cookies: SimpleCookie,
        content: ResponseStream,
        request_info: RequestInfo,
        history: tuple[ClientResponse, ...],
        connection: ResponseHandler | None,
    ) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers
        self.content = content
        self.request_info = request_info
        self.history = history
        self._connection = connection
        self._body: bytes | None = None
        self._content_type: tuple[str, dict[str, str]] | None = None
        self.cookies = cookies
        # Set by a session with trace configs; None costs nothing on the way.
        self.on_body: Callable[[bytes], Awaitable[None]] | None = None

    def __repr__(self) -> str:
        return f"<ClientResponse({self.url}) [{self.status} {self.reason}]>"

    @property
    def ok(self) -> bool:
        """Whether the status is below 400 (no error)."""
        return self.status < 400

    @property
    def real_url(self) -> URL:
        """The URL this response answers (after redirects, the last one requested)."""
        return self.request_info.real_url

    def _parsed_content_type(self) -> tuple[str, dict[str, str]]:
        # A received response's headers never change: parsed once for content_type and charset.
        if self._content_type is None:
            self._content_type = super()._parsed_content_type()
        return self._content_type

    def get_encoding(self) -> str:
        """The body's text encoding: the declared charset if Python knows it, else UTF-8."""
        charset = self.charset
        if charset:
            try:
                return codecs.lookup(charset).name
            except LookupError:
                pass
        return "utf-8"

    def raise_for_status(self) -> None:
        """Raise ``ClientResponseError`` for a 4xx/5xx status, releasing the connection."""
        if self.status >= 400:
            self.release()
            raise ClientResponseError(
                self.request_info,
                self.history,
                status=self.status,
                message=self.reason,
                headers=self.headers,
            )

    async def read(self) -> bytes:
        """The whole body (decoded from gzip/deflate); kept for later calls.

        Raises ``ClientPayloadError`` if the body is cut short or cannot be decoded,
        and a ``ServerTimeoutError`` when the request's timeout runs out.
        """
        if self._body is None:
            try:
                self._body = await self.content.read()
            finally:
                self.release()
            if self.on_body is not None:
                await self.on_body(self._body)
        return self._body

    async def text(self, encoding: str | None = None, errors: str = "strict") -> str:
        """The whole body as text, decoded with ``encoding`` or ``get_encoding()``;
        ``errors`` is ``bytes.decode``'s (``UnicodeDecodeError`` when strict)."""
        body = await self.read()
        return body.decode(encoding or self.get_encoding(), errors)

    async def json(
        self,
        *,
        encoding: str | None = None,
        loads: Callable[[str], Any] = json.loads,
        content_type: str | None = "application/json",
    ) -> Any:
        """The body parsed with ``loads`` (``None`` for an empty body).

        Raises ``ContentTypeError`` if the Content-Type does not contain
        ``content_type`` (pass ``None`` to skip the check; the default also takes the
        ``+json`` types, ``application/problem+json`` say), and what ``loads`` raises
        for malformed JSON.
        """
        body = await self.read()
        if content_type is not None and not _expected_type(self.content_type, content_type):
            raise ContentTypeError(
                self.request_info,
                self.history,
                status=self.status,
                message=f"Attempt to decode JSON with unexpected mimetype: {self.content_type}",
                headers=self.headers,
            )
        if not body.strip():
            return None
        return loads(body.decode(encoding or self.get_encoding()))

    def release(self) -> None:
        """Give up the connection: reused if the body was complete, else closed."""
        connection, self._connection = self._connection, None
        if connection is not None and not self.content.is_eof():
            connection.release(reusable=False)

    def close(self) -> None:
        """Close the connection unless it already went back to the pool with the whole body."""
        self.release()

    @property
    def closed(self) -> bool:
        """Whether the response let go of its connection (released or read whole)."""
        return self._connection is None

    async def __aenter__(self) -> ClientResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()
