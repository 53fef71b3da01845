"""The HTTP/1.1 pieces both sides need: header tokens, head serialisation, chunks.

Parsing itself is httptools' (llhttp) job, in the server's and the client's protocol
modules; this module holds only what the two would otherwise write twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus

from multidict import CIMultiDict, CIMultiDictProxy, istr

Headers = CIMultiDict[str] | CIMultiDictProxy[str]

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

_FORBIDDEN_IN_HEADERS = frozenset("\r\n\x00")


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


def check_header(name: str, value: str) -> None:
    """Refuse CR, LF and NUL in a header we send: they would split the response."""
    if _FORBIDDEN_IN_HEADERS.intersection(name) or _FORBIDDEN_IN_HEADERS.intersection(value):
        raise ValueError(f"invalid character in header {name!r}")


def build_head(start_line: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """Serialise a start line and headers into the bytes of an HTTP/1.1 head."""
    lines = [start_line]
    for name, value in headers:
        check_header(name, value)
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1")


def encode_chunk(data: bytes) -> bytes:
    """One chunk of a chunked transfer-coded body; an empty ``data`` ends the body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


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
