"""The opening handshake (RFC 6455 section 4) for both roles, as pure functions.

The server checks an upgrade request and builds its 101 headers; the client builds
its request headers and checks the 101. Subprotocols and permessage-deflate are
negotiated here, so both sides agree by construction.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .deflate import EXTENSION_NAME, ClientDeflate, DeflateParams, ExtensionParams, ServerDeflate
from .errors import InvalidHandshake, ProtocolError
from .http import (
    CONNECTION,
    SEC_WEBSOCKET_ACCEPT,
    SEC_WEBSOCKET_EXTENSIONS,
    SEC_WEBSOCKET_PROTOCOL,
    UPGRADE,
    Headers,
    header_tokens,
)

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
VERSION = "13"

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PARAM = re.compile(rf'\s*({_TOKEN})\s*(?:=\s*(?:({_TOKEN})|"((?:[^"\\]|\\.)*)"))?\s*')


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode("ascii")


def generate_key() -> str:
    """A fresh random Sec-WebSocket-Key."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def parse_extensions(values: Sequence[str]) -> list[tuple[str, ExtensionParams]]:
    """Parse Sec-WebSocket-Extensions header values into (name, [(param, value)]).

    Raises ProtocolError on a malformed value; quoted parameter values are unquoted.
    """
    result: list[tuple[str, ExtensionParams]] = []
    for value in values:
        for item in _split_outside_quotes(value, ","):
            if not item.strip():
                continue
            name, *raw_params = _split_outside_quotes(item, ";")
            name = name.strip()
            if not re.fullmatch(_TOKEN, name):
                raise ProtocolError(f"invalid extension name {name!r}")
            params: ExtensionParams = []
            for raw in raw_params:
                match = _PARAM.fullmatch(raw)
                if match is None:
                    raise ProtocolError(f"invalid extension parameter {raw!r}")
                pname, token, quoted = match.groups()
                value_ = token if quoted is None else re.sub(r"\\(.)", r"\1", quoted)
                params.append((pname.lower(), value_))
            result.append((name.lower(), params))
    return result


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts, start, quoted, escaped = [], 0, False, False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == sep and not quoted:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


@dataclass(frozen=True)
class Agreement:
    """What a completed handshake agreed on."""

    subprotocol: str | None
    deflate: DeflateParams | None


@dataclass(frozen=True)
class ServerAccept:
    """A valid upgrade request's answer: the 101's headers and the agreement."""

    headers: tuple[tuple[str, str], ...]
    agreement: Agreement


def _bad(message: str, status: int = 400, *headers: tuple[str, str]) -> InvalidHandshake:
    return InvalidHandshake(message, status, headers)


def accept_request(
    method: str,
    headers: Headers,
    *,
    protocols: Sequence[str] = (),
    deflate: ServerDeflate | None = None,
) -> ServerAccept:
    """Validate an upgrade request; raise InvalidHandshake with the status to answer."""
    if method != "GET":
        raise _bad(f"WebSocket upgrade needs GET, not {method}", 405, ("Allow", "GET"))
    if "websocket" not in header_tokens(headers, "Upgrade"):
        raise _bad("missing 'Upgrade: websocket' header")
    if "upgrade" not in header_tokens(headers, "Connection"):
        raise _bad("missing 'Connection: Upgrade' header")
    versions = headers.getall("Sec-WebSocket-Version", ())
    if versions != [VERSION]:
        raise _bad("unsupported WebSocket version", 426, ("Sec-WebSocket-Version", VERSION))
    keys = headers.getall("Sec-WebSocket-Key", ())
    if len(keys) != 1:
        raise _bad("exactly one Sec-WebSocket-Key header is required")
    try:
        raw_key = base64.b64decode(keys[0].encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raw_key = b""
    if len(raw_key) != 16:
        raise _bad("Sec-WebSocket-Key is not 16 base64-encoded bytes")

    out = [
        (UPGRADE, "websocket"),
        (CONNECTION, "Upgrade"),
        (SEC_WEBSOCKET_ACCEPT, accept_key(keys[0])),
    ]
    offered = [
        token.strip()
        for value in headers.getall("Sec-WebSocket-Protocol", ())
        for token in value.split(",")
    ]
    subprotocol = next((p for p in protocols if p in offered), None)
    if subprotocol is not None:
        out.append((SEC_WEBSOCKET_PROTOCOL, subprotocol))

    params = None
    if deflate is not None:
        try:
            extensions = parse_extensions(headers.getall("Sec-WebSocket-Extensions", ()))
        except ProtocolError as exc:
            raise _bad(str(exc)) from None
        offers = [p for name, p in extensions if name == EXTENSION_NAME]
        params = deflate.accept(offers)
        if params is not None:
            out.append((SEC_WEBSOCKET_EXTENSIONS, params.as_header()))
    return ServerAccept(tuple(out), Agreement(subprotocol, params))


def request_headers(
    key: str,
    *,
    protocols: Sequence[str] = (),
    deflate: ClientDeflate | None = None,
    origin: str | None = None,
) -> list[tuple[str, str]]:
    """The headers a client adds to its GET to ask for an upgrade."""
    out = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", VERSION),
    ]
    if protocols:
        out.append(("Sec-WebSocket-Protocol", ", ".join(protocols)))
    if deflate is not None:
        out.append(("Sec-WebSocket-Extensions", deflate.offer()))
    if origin is not None:
        out.append(("Origin", origin))
    return out


def check_response(
    status: int,
    headers: Headers,
    key: str,
    *,
    protocols: Sequence[str] = (),
    deflate: ClientDeflate | None = None,
) -> Agreement:
    """Validate the server's answer to our upgrade request; raise InvalidHandshake."""
    if status != 101:
        raise _bad(f"server answered {status} instead of 101 Switching Protocols", status)
    if "websocket" not in header_tokens(headers, "Upgrade"):
        raise _bad("101 response without 'Upgrade: websocket'", status)
    if "upgrade" not in header_tokens(headers, "Connection"):
        raise _bad("101 response without 'Connection: Upgrade'", status)
    if headers.getall("Sec-WebSocket-Accept", ()) != [accept_key(key)]:
        raise _bad("wrong Sec-WebSocket-Accept", status)

    chosen = headers.getall("Sec-WebSocket-Protocol", ())
    if len(chosen) > 1 or (chosen and chosen[0] not in protocols):
        raise _bad(f"server chose a subprotocol we did not offer: {chosen}", status)

    params = None
    try:
        extensions = parse_extensions(headers.getall("Sec-WebSocket-Extensions", ()))
        for name, ext_params in extensions:
            if name != EXTENSION_NAME or deflate is None or params is not None:
                raise ProtocolError(f"server answered with an extension we did not offer: {name}")
            params = deflate.accept(ext_params)
    except ProtocolError as exc:
        raise _bad(str(exc), status) from None
    return Agreement(chosen[0] if chosen else None, params)
