"""The HTTP/1.1 pieces both sides need: header tokens, head serialisation, chunks, and the
two mix-ins the server's and the client's classes share: ``HeaderCollector`` (llhttp's
header callback) and ``ContentHeaders`` (``content_type``, ``charset``,
``content_length``).

Parsing itself is httptools' (llhttp) job, in the server's and the client's protocol
modules; this module holds only what the two would otherwise write twice.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from http import HTTPStatus
from typing import NoReturn, Protocol

from multidict import CIMultiDict, CIMultiDictProxy, istr

Headers = CIMultiDict[str] | CIMultiDictProxy[str]
"""The headers of a message: a mutable ``CIMultiDict`` or a read-only proxy of one."""

# Names of the headers we write, as multidict's ``istr``: a CIMultiDict turns plain
# ``str`` keys into ``istr`` objects of its own the first time it is iterated (when
# a head is rendered), about 100 bytes per header that every open connection keeps;
# these shared names cost nothing.
CONNECTION = istr("Connection")
CONTENT_LENGTH = istr("Content-Length")
CONTENT_TYPE = istr("Content-Type")
DATE = istr("Date")
SEC_WEBSOCKET_ACCEPT = istr("Sec-WebSocket-Accept")
SEC_WEBSOCKET_EXTENSIONS = istr("Sec-WebSocket-Extensions")
SEC_WEBSOCKET_PROTOCOL = istr("Sec-WebSocket-Protocol")
SERVER = istr("Server")
TRANSFER_ENCODING = istr("Transfer-Encoding")
UPGRADE = istr("Upgrade")


def header_tokens(headers: Headers, name: str) -> list[str]:
    """All comma-separated tokens of every ``name`` header, lower-cased and stripped."""
    return [
        token.strip().lower()
        for value in headers.getall(name, ())
        for token in value.split(",")
        if token.strip()
    ]


def reason_phrase(status: int) -> str:
    """The standard reason phrase for ``status``, or an empty string."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def build_head(start_line: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """The bytes of an HTTP/1.1 head: ``start_line``, one line per header, a blank line.

    Serves both sides: the server's status line (``HTTP/1.1 200 OK``) and the client's
    request line (``GET /path HTTP/1.1``).

    Raises ``ValueError`` if the start line or a header holds CR, LF or NUL, which would
    let a value from user input end the head early and smuggle in headers or a body; and
    ``UnicodeEncodeError`` (also a ``ValueError``) for a character outside Latin-1.
    """
    lines = [f"{name}: {value}\r\n" for name, value in headers]
    head = f"{start_line}\r\n{''.join(lines)}\r\n"
    # Each line brings exactly one CR and one LF of its own: counting them over the whole
    # head checks every header with three C-level scans instead of a test per header.
    expected = len(lines) + 2
    if head.count("\n") != expected or head.count("\r") != expected or "\x00" in head:
        raise ValueError(f"invalid character in {_culprit(lines)}")
    return head.encode("latin-1")


def _culprit(lines: list[str]) -> str:
    """Where ``build_head`` found CR, LF or NUL, named without the value (a secret?)."""
    for line in lines:
        if line.count("\r") != 1 or line.count("\n") != 1 or "\x00" in line:
            return f"header {line.partition(':')[0]!r}"
    return "the start line"


def encode_chunk(data: bytes) -> bytes:
    """One chunk of a chunked transfer-coded body; an empty ``data`` ends the body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"
"""The last chunk of a chunked body, with no trailers."""


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """The lower-cased media type of a ``Content-Type`` value and its parameters
    (parameter names lower-cased, quotes stripped from values)."""
    mimetype, *params = value.split(";")
    result: dict[str, str] = {}
    for param in params:
        key, sep, val = param.partition("=")
        if sep:
            result[key.strip().lower()] = val.strip().strip('"')
    return mimetype.strip().lower(), result


class HeaderCollector:
    """A mix-in for an llhttp protocol: ``on_header`` collects a head's fields.

    llhttp calls ``on_header`` once per field, with the name and the value as bytes; they
    are kept in ``_raw_headers`` as Latin-1 strings (what HTTP/1.1 allows in a field,
    decoded without loss) in the order received, for a ``CIMultiDict``. The class using
    it declares the ``_raw_headers`` slot and sets it to a fresh list at the start of
    each head.

    More than ``_max_header_fields`` fields in one head calls
    ``_too_many_header_fields``, whose exception llhttp passes up through ``feed_data``:
    checked per field, a flood of tiny header lines cannot grow the list past the limit.
    There is no limit unless the class sets one (a ``_max_header_fields`` slot, set in
    its ``__init__``) and overrides ``_too_many_header_fields`` to raise its own error.
    """

    __slots__ = ()

    _raw_headers: list[tuple[str, str]]
    _max_header_fields: int = sys.maxsize

    def on_header(self, name: bytes, value: bytes) -> None:
        """llhttp: one header field of the head being parsed."""
        fields = self._raw_headers
        fields.append((name.decode("latin-1"), value.decode("latin-1")))
        if len(fields) > self._max_header_fields:
            self._too_many_header_fields()

    def _too_many_header_fields(self) -> NoReturn:
        """Refuse a head with more than ``_max_header_fields`` fields (raise)."""
        raise ValueError(f"more than {self._max_header_fields} header fields")


class _HeaderSource(Protocol):
    """What ``ContentHeaders`` reads: a message's headers."""

    @property
    def headers(self) -> Headers: ...

    def _parsed_content_type(self) -> tuple[str, dict[str, str]]: ...


class _MutableHeaderSource(Protocol):
    """What the setters of ``ContentHeaders`` need: headers that can change."""

    @property
    def headers(self) -> CIMultiDict[str]: ...

    @property
    def content_type(self) -> str: ...

    @property
    def charset(self) -> str | None: ...

    def _set_content_type(self, ctype: str, charset: str | None) -> None: ...


class ContentHeaders:
    """A mix-in giving a message ``content_type``, ``charset`` and ``content_length``.

    Shared by the server's ``Request`` and ``StreamResponse`` and the client's
    ``ClientResponse``: each reads its own ``headers``. A response being built (its
    headers a mutable ``CIMultiDict``) may also set them; for a received message, whose
    headers are read-only, the type checker refuses the assignment.
    """

    __slots__ = ()

    def _parsed_content_type(self: _HeaderSource) -> tuple[str, dict[str, str]]:
        """``Content-Type`` split by ``parse_content_type``; when the header is missing,
        ``application/octet-stream`` (RFC 9110's "unknown") without parameters. A class
        whose headers never change may override this to parse only once."""
        return parse_content_type(self.headers.get(CONTENT_TYPE, "application/octet-stream"))

    @property
    def content_type(self: _HeaderSource) -> str:
        """The media type of ``Content-Type``, lower-cased and without its parameters
        (``"text/html"``); ``"application/octet-stream"`` when the header is missing.

        Settable on a response before its head is sent: the ``charset`` is kept.
        """
        return self._parsed_content_type()[0]

    @content_type.setter
    def content_type(self: _MutableHeaderSource, value: str) -> None:
        self._set_content_type(value, self.charset)

    @property
    def charset(self: _HeaderSource) -> str | None:
        """The ``charset`` parameter of ``Content-Type`` as sent, or ``None``.

        Settable on a response before its head is sent: the media type is kept, and
        ``None`` removes the parameter.
        """
        return self._parsed_content_type()[1].get("charset")

    @charset.setter
    def charset(self: _MutableHeaderSource, value: str | None) -> None:
        self._set_content_type(self.content_type, value)

    def _set_content_type(self: _MutableHeaderSource, ctype: str, charset: str | None) -> None:
        """Write ``Content-Type`` from a media type and an optional charset."""
        self.headers[CONTENT_TYPE] = f"{ctype}; charset={charset}" if charset else ctype

    @property
    def content_length(self: _HeaderSource) -> int | None:
        """``Content-Length`` as an ``int``; ``None`` when missing or not a number.

        Settable on a response before its head is sent (``None`` removes the header): a
        ``StreamResponse`` then sends its body with this length instead of chunked.
        """
        value = self.headers.get(CONTENT_LENGTH)
        return int(value) if value is not None and value.isdigit() else None

    @content_length.setter
    def content_length(self: _MutableHeaderSource, value: int | None) -> None:
        if value is None:
            self.headers.popall(CONTENT_LENGTH, None)
        else:
            self.headers[CONTENT_LENGTH] = str(int(value))
