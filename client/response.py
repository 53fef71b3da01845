"""``ClientResponse`` and ``StreamReader``, the body as it arrives."""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any

from multidict import CIMultiDictProxy
from yarl import URL

from tidewire.protocol.http import ContentHeaders
from tidewire.protocol.stream import StreamReader as BodyStream

from .cookies import parse_set_cookies
from .exceptions import ClientResponseError, ContentTypeError, RequestInfo
from .timeouts import Deadline, Limit

if TYPE_CHECKING:
    from .protocol import ResponseHandler

HIGH_WATER = 256 * 1024
"""Buffered body bytes at which the socket stops being read until the user catches up."""
LOW_WATER = 64 * 1024


class StreamReader(BodyStream):
    """The body of one response (``response.content``), read in whatever pieces suit.

    The reading is ``tidewire.protocol.stream``'s; each wait for bytes is bounded by the
    request's ``sock_read``/``total`` deadline, whose expiry fails the whole exchange.
    """

    __slots__ = ("_deadline", "_handler")

    def __init__(
        self, handler: ResponseHandler | None, deadline: Deadline | None, *, eof: bool = False
    ) -> None:
        super().__init__(handler, high_water=HIGH_WATER, low_water=LOW_WATER, eof=eof)
        self._handler = handler
        self._deadline = deadline

    def _wait_limit(self) -> Limit | None:
        if self._handler is None or self._deadline is None:
            return None
        return self._deadline.read_limit()

    def _timed_out(self, error: BaseException) -> None:
        if self._handler is not None:
            self._handler.fail(error)  # drops the connection and fails this stream with error
        if self._exception is None:
            self.set_exception(error)


class ClientResponse(ContentHeaders):
    """One received response: status, headers, and the body to read or stream."""

    __slots__ = (
        "_body",
        "_connection",
        "_content_type",
        "content",
        "cookies",
        "headers",
        "history",
        "method",
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
        content: StreamReader,
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
        self.cookies: SimpleCookie = parse_set_cookies(headers.getall("set-cookie", ()))

    def __repr__(self) -> str:
        return f"<ClientResponse({self.url}) [{self.status} {self.reason}]>"

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def real_url(self) -> URL:
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
        """The whole body (decoded from gzip/deflate); kept for later calls."""
        if self._body is None:
            try:
                self._body = await self.content.read()
            finally:
                self.release()
        return self._body

    async def text(self, encoding: str | None = None, errors: str = "strict") -> str:
        body = await self.read()
        return body.decode(encoding or self.get_encoding(), errors)

    async def json(
        self,
        *,
        encoding: str | None = None,
        loads: Callable[[str], Any] = json.loads,
        content_type: str | None = "application/json",
    ) -> Any:
        """The body parsed as JSON; refuses another Content-Type unless ``content_type=None``."""
        body = await self.read()
        if content_type is not None and content_type not in self.content_type:
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
        return self._connection is None

    async def __aenter__(self) -> ClientResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()
