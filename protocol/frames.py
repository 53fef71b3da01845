"""Frame layout (RFC 6455 section 5.2): opcodes, header parsing, building and masking.

The receive loop in ``connection.py`` reads each header straight out of its buffer
with ``read_header`` (whole plain frames go through the compiled ``MessageReader``
first, when it was built); everything here works on bytes and offsets, never on
sockets.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from enum import IntEnum
from typing import Protocol

from .errors import ProtocolError


class Opcode(IntEnum):
    """A frame's opcode (RFC 6455 section 5.2): three data and three control ones."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


MAX_CONTROL_PAYLOAD = 125

FIN = 0x80
RSV1 = 0x40
RSV2 = 0x20
RSV3 = 0x10
MASK_BIT = 0x80

_U16 = struct.Struct("!H")
_U64 = struct.Struct("!Q")
_HEAD = struct.Struct("!BB")
_HEAD16 = struct.Struct("!BBH")
_HEAD64 = struct.Struct("!BBQ")


def read_header(
    buf: bytes | bytearray | memoryview, pos: int = 0
) -> tuple[int, bytes | None, int, int] | None:
    """The frame header at ``buf[pos:]`` as (first byte, mask, payload length, header
    size); ``None`` until it has fully arrived. A tuple rather than a named one: it is
    the receive loop's per-frame call.

    Only the wire layout is checked here (the 64-bit length's high bit); what depends on
    the connection's state, role and extensions is checked by the connection.
    """
    available = len(buf) - pos
    if available < 2:
        return None
    first = buf[pos]
    second = buf[pos + 1]
    length = second & 0x7F
    size = 2
    if length == 126:
        if available < 4:
            return None
        (length,) = _U16.unpack_from(buf, pos + 2)
        size = 4
    elif length == 127:
        if available < 10:
            return None
        (length,) = _U64.unpack_from(buf, pos + 2)
        if length >> 63:
            raise ProtocolError("64-bit frame length with the most significant bit set")
        size = 10
    if not second & MASK_BIT:
        return first, None, length, size
    if available < size + 4:
        return None
    mask = buf[pos + size : pos + size + 4]
    return first, mask if type(mask) is bytes else bytes(mask), length, size + 4


def apply_mask_python(data: bytes | bytearray | memoryview, mask: bytes, offset: int = 0) -> bytes:
    """XOR ``data`` with the 4-byte ``mask``, as if it started ``offset`` bytes into a payload.

    One big-integer XOR does the whole payload in C: no per-byte Python loop. This is
    the pure-Python path; ``apply_mask`` is the compiled one when it was built.
    """
    size = len(data)
    if not size:
        return b""
    if offset % 4:
        shift = offset % 4
        mask = mask[shift:] + mask[:shift]
    key = mask * (size // 4 + 1)
    value = int.from_bytes(data, "little") ^ int.from_bytes(key[:size], "little")
    return value.to_bytes(size, "little")


class Payload(Protocol):
    """A large frame's payload gathered as it arrives, then taken whole and unmasked."""

    @property
    def filled(self) -> int:
        """Bytes written so far."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append a copy of ``data``."""

    def view(self) -> memoryview | None:
        """The unfilled part, for a transport to read straight into; None if it cannot."""

    def advance(self, n: int) -> None:
        """``n`` bytes were read into ``view()``."""

    def take(self, mask: bytes | None) -> bytes:
        """The whole payload, unmasked."""


class PayloadPieces:
    """The pure-Python ``Payload``: copies of the pieces, joined in ``take``. Nothing
    is allocated up front, so a length a peer declares costs nothing until it sends."""

    __slots__ = ("_pieces", "filled")

    def __init__(self, size: int) -> None:
        self._pieces: list[bytes] = []
        self.filled = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._pieces.append(bytes(data))
        self.filled += len(data)

    def view(self) -> memoryview | None:
        return None

    def advance(self, n: int) -> None:
        raise ValueError("no view to have read into")

    def take(self, mask: bytes | None) -> bytes:
        whole = b"".join(self._pieces)
        return whole if mask is None else apply_mask_python(whole, mask)


# The compiled versions (protocol/_speedups.c) when they were built, unless
# TIDEWIRE_NO_EXTENSIONS is set: CI runs the protocol tests both ways. The compiled
# payload is a bytes object filled in place: the socket reads into it directly.
apply_mask = apply_mask_python
new_payload: Callable[[int], Payload] = PayloadPieces
HAS_SPEEDUPS = False
if not os.environ.get("TIDEWIRE_NO_EXTENSIONS"):
    try:
        from ._speedups import PayloadBuffer, apply_mask
    except ImportError:
        pass
    else:
        new_payload = PayloadBuffer
        HAS_SPEEDUPS = True


def build_header(
    opcode: int, length: int, *, fin: bool = True, rsv: int = 0, mask: bytes | None = None
) -> bytes:
    """The header bytes of a frame carrying ``length`` payload bytes."""
    first = (FIN if fin else 0) | rsv | opcode
    mask_bit = MASK_BIT if mask is not None else 0
    if length < 126:
        head = _HEAD.pack(first, mask_bit | length)
    elif length < 0x10000:
        head = _HEAD16.pack(first, mask_bit | 126, length)
    else:
        head = _HEAD64.pack(first, mask_bit | 127, length)
    return head + mask if mask is not None else head


def frame_parts(
    opcode: int, payload: bytes, rsv: int = 0, masked: bool = False
) -> tuple[bytes, bytes]:
    """A final frame as its header and its payload (masked with a fresh random key
    when ``masked``, as a client must): a writer that gathers the two (``writelines``)
    never copies a large payload behind its header."""
    length = len(payload)
    if not masked:
        if length < 126:
            return _HEAD.pack(FIN | rsv | opcode, length), payload
        return build_header(opcode, length, rsv=rsv), payload
    mask = os.urandom(4)
    return build_header(opcode, length, rsv=rsv, mask=mask), apply_mask(payload, mask)


def build_frame(
    opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, masked: bool = False
) -> bytes:
    """A whole frame in one piece."""
    mask = os.urandom(4) if masked else None
    head = build_header(opcode, len(payload), fin=fin, rsv=rsv, mask=mask)
    return head + (payload if mask is None else apply_mask(payload, mask))
