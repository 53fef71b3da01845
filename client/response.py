"""``ClientResponse``: one received response, its head at once and its body to read."""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any

from multidict import CIMultiDictProxy
from yarl import URL

from tidewire.protocol.http import parse_content_type

from .exceptions import ClientResponseError, ContentTypeError, RequestInfo
from .streams import ResponseStream

if TYPE_CHECKING:
    from .protocol import ResponseHandler


class ClientResponse:
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

    def __repr__(self) -> str:
        return f"<ClientResponse({self.url}) [{self.status} {self.reason}]>"

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def real_url(self) -> URL:
        return self.request_info.real_url

    def _parsed_content_type(self) -> tuple[str, dict[str, str]]:
        if self._content_type is None:
            self._content_type = parse_content_type(
                self.headers.get("content-type", "application/octet-stream")
            )
        return self._content_type

    @property
    def content_type(self) -> str:
        return self._parsed_content_type()[0]

    @property
    def charset(self) -> str | None:
        return self._parsed_content_type()[1].get("charset")

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value is not None and value.isdigit() else None

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
