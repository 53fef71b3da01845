"""Helpers shared by the protocol tests: frames built by hand, frames read off the wire.

``wire`` builds a frame with ``frames.build_header``/``apply_mask`` (checked byte for
byte against RFC 6455's examples in test_frames.py); ``read_frames`` decodes what a
connection sent with its own struct code, so the checks do not lean on the parser
under test.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from tidewire.protocol.connection import Connection, Role
from tidewire.protocol.frames import apply_mask, build_header
from tidewire.protocol.messages import WSMessage, WSMsgType

MASK = b"\x37\xfa\x21\x3d"


def wire(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    mask: bytes = MASK,
) -> bytes:
    """One frame as a peer would send it: a client masks (the default), a server not."""
    if masked:
        return build_header(opcode, len(payload), fin=fin, rsv=rsv, mask=mask) + apply_mask(
            payload, mask
        )
    return build_header(opcode, len(payload), fin=fin, rsv=rsv) + payload


def wire_to(conn: Connection, opcode: int, payload: bytes = b"", **kw: object) -> bytes:
    """A frame as ``conn``'s peer sends it: masked towards a server, plain to a client."""
    return wire(opcode, payload, masked=conn.role is Role.SERVER, **kw)  # type: ignore[arg-type]


@dataclass
class WireFrame:
    fin: bool
    rsv: int
    opcode: int
    masked: bool
    payload: bytes


def read_frames(data: bytes) -> list[WireFrame]:
    """Decode every frame in ``data`` independently of tidewire's parser."""
    frames, pos = [], 0
    while pos < len(data):
        first, second = data[pos], data[pos + 1]
        pos += 2
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack_from("!H", data, pos)
            pos += 2
        elif length == 127:
            (length,) = struct.unpack_from("!Q", data, pos)
            pos += 8
        key = None
        if second & 0x80:
            key = data[pos : pos + 4]
            pos += 4
        payload = data[pos : pos + length]
        assert len(payload) == length, "truncated frame"
        pos += length
        if key is not None:
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        frames.append(
            WireFrame(bool(first & 0x80), first & 0x70, first & 0x0F, key is not None, payload)
        )
    return frames


def close_code_sent(conn: Connection) -> int | None:
    """The code of the close frame ``conn`` answers with; None for an empty close."""
    frames = read_frames(conn.answer_close())
    assert [f.opcode for f in frames] == [0x8], frames
    assert frames[0].masked is (conn.role is Role.CLIENT)
    payload = frames[0].payload
    return struct.unpack("!H", payload[:2])[0] if payload else None


def assert_failed(conn: Connection, events: list[WSMessage], code: int) -> None:
    """The connection refused what it got: ERROR last, then a close with ``code``."""
    assert events, "no events"
    assert events[-1].type is WSMsgType.ERROR
    assert getattr(events[-1].data, "code", None) == code
    assert close_code_sent(conn) == code
    assert conn.close_code == code
    assert conn.receive_data(wire_to(conn, 0x1, b"after")) == []


def feed_bytewise(conn: Connection, data: bytes) -> Iterator[list[WSMessage]]:
    """Feed one byte at a time, yielding the events of each byte."""
    for i in range(len(data)):
        yield conn.receive_data(data[i : i + 1])


def deflate_raw(data: bytes, wbits: int = 15) -> bytes:
    """Compress as RFC 7692 puts a message on the wire: raw deflate, tail stripped."""
    obj = zlib.compressobj(6, zlib.DEFLATED, -wbits)
    out = obj.compress(data) + obj.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]
