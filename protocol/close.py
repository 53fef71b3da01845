"""Close codes and the close frame payload (RFC 6455 section 5.5.1 and 7.4)."""

from __future__ import annotations

import struct
from enum import IntEnum

from .errors import ProtocolError


class CloseCode(IntEnum):
    """Close status codes (RFC 6455 section 7.4), named as aiohttp users know them
    (``WSCloseCode``). 1005, 1006 and 1015 never go on the wire: they name what
    happened locally (no code received, no close frame at all, a TLS failure)."""

    OK = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RECEIVED = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_TEXT = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


# RFC 6455's codes plus IANA's 1012-1014 (browsers send them); 1005, 1006 and 1015
# report local conditions and must never be sent on the wire.
_WIRE_CODES = frozenset((1000, 1001, 1002, 1003, *range(1007, 1015)))


def is_valid_wire_code(code: int) -> bool:
    """True for the codes a peer may send: the registered ones and 3000-4999."""
    return code in _WIRE_CODES or 3000 <= code <= 4999


def parse_close(payload: bytes) -> tuple[int, str]:
    """Return ``(code, reason)``; an empty payload means 1005. Raises ProtocolError."""
    if not payload:
        return CloseCode.NO_STATUS_RECEIVED, ""
    if len(payload) == 1:
        raise ProtocolError("close frame payload of one byte")
    (code,) = struct.unpack_from("!H", payload)
    if not is_valid_wire_code(code):
        raise ProtocolError(f"invalid close code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("close reason is not UTF-8", CloseCode.INVALID_TEXT) from None
    return code, reason


def build_close(code: int | None = CloseCode.OK, reason: str = "") -> bytes:
    """The payload of a close frame; ``None`` sends an empty one (no status)."""
    if code is None or code == CloseCode.NO_STATUS_RECEIVED:
        if reason:
            raise ValueError("a close reason needs a close code")
        return b""
    if not is_valid_wire_code(code):
        raise ValueError(f"close code {code} may not be sent")
    data = struct.pack("!H", code) + reason.encode("utf-8")
    if len(data) > 125:
        raise ValueError("close reason longer than 123 bytes")
    return data
