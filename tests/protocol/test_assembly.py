"""Message assembly: UTF-8 checked as bytes arrive, size limits before buffering."""

from __future__ import annotations

import pytest
from protocol_wire import MASK, assert_failed, feed_bytewise, wire_to

from tidewire.protocol.connection import Connection, Role, State
from tidewire.protocol.frames import HAS_SPEEDUPS, Opcode, build_header
from tidewire.protocol.messages import WSMessage, WSMessageBinary, WSMessageText, WSMsgType

TEXT, BINARY, CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION

# Valid Greek "κόσμε" followed by an invalid sequence (a code point above U+10FFFF):
# the decoder can tell at the second byte of the bad sequence.
GOOD = "κόσμε".encode()
BAD = b"\xf4\x90\x80\x80"


def _fails_at(conn: Connection, data: bytes) -> int:
    """Feed ``data`` byte by byte; the index of the byte that failed the connection."""
    for i, events in enumerate(feed_bytewise(conn, data)):
        if events:
            assert_failed(conn, events, 1007)
            return i
    raise AssertionError("never failed")


def test_invalid_utf8_fails_fast_mid_frame(conn: Connection) -> None:
    data = wire_to(conn, TEXT, GOOD + BAD + b"tail that never needs to arrive")
    header_size = len(data) - len(GOOD + BAD) - 31
    assert _fails_at(conn, data) == header_size + len(GOOD) + 1


def test_invalid_utf8_fails_fast_mid_message(conn: Connection) -> None:
    first = wire_to(conn, TEXT, GOOD, fin=False)
    second = wire_to(conn, CONT, BAD + b"more", fin=False)
    conn.receive_data(first)
    assert _fails_at(conn, second + wire_to(conn, CONT, b"end")) == len(second) - 4 - 3


def test_utf8_sequence_split_across_frames_is_fine(conn: Connection) -> None:
    text = "€𝄞"
    raw = text.encode()
    data = b"".join(
        wire_to(conn, TEXT if i == 0 else CONT, raw[i : i + 1], fin=i == len(raw) - 1)
        for i in range(len(raw))
    )
    assert conn.receive_data(data) == [WSMessageText(WSMsgType.TEXT, text, None)]


def test_truncated_utf8_at_the_end_of_a_message_is_refused(conn: Connection) -> None:
    data = wire_to(conn, TEXT, GOOD + b"\xe2\x82", fin=False) + wire_to(conn, CONT, b"")
    assert_failed(conn, conn.receive_data(data), 1007)


def test_invalid_utf8_in_a_whole_frame(conn: Connection) -> None:
    assert_failed(conn, conn.receive_data(wire_to(conn, TEXT, b"\xff")), 1007)


def test_binary_is_not_checked(conn: Connection) -> None:
    data = wire_to(conn, BINARY, BAD, fin=False) + wire_to(conn, CONT, b"\xff")
    assert conn.receive_data(data) == [WSMessageBinary(WSMsgType.BINARY, BAD + b"\xff", None)]


def _header_to(conn: Connection, opcode: int, length: int, fin: bool = True) -> bytes:
    mask = MASK if conn.role is Role.SERVER else None
    return build_header(opcode, length, fin=fin, mask=mask)


@pytest.mark.parametrize("opcode", [TEXT, BINARY])
def test_too_big_fails_as_soon_as_the_header_arrives(role: Role, opcode: int) -> None:
    conn = Connection(role, max_message_size=1000)
    assert_failed(conn, conn.receive_data(_header_to(conn, opcode, 1001)), 1009)


def test_size_limit_counts_every_fragment_before_its_payload(role: Role) -> None:
    conn = Connection(role, max_message_size=1000)
    assert conn.receive_data(wire_to(conn, BINARY, b"a" * 600, fin=False)) == []
    assert_failed(conn, conn.receive_data(_header_to(conn, CONT, 401)), 1009)


def test_message_of_exactly_the_limit_passes(role: Role) -> None:
    conn = Connection(role, max_message_size=1000)
    data = wire_to(conn, BINARY, b"a" * 600, fin=False) + wire_to(conn, CONT, b"b" * 400)
    assert conn.receive_data(data) == [
        WSMessageBinary(WSMsgType.BINARY, b"a" * 600 + b"b" * 400, None)
    ]
    # the limit is per message: the next one starts from zero
    (msg,) = conn.receive_data(wire_to(conn, TEXT, b"c" * 1000))
    assert msg.data == "c" * 1000


def test_zero_means_no_limit(role: Role) -> None:
    conn = Connection(role, max_message_size=0)
    big = b"z" * (5 * 1024 * 1024)
    assert conn.receive_data(wire_to(conn, BINARY, big)) == [
        WSMessageBinary(WSMsgType.BINARY, big, None)
    ]
    # a huge declared length is accepted and waits for its payload
    assert conn.receive_data(_header_to(conn, BINARY, 2**40)) == []
    assert conn.state is State.OPEN


def test_default_limit_is_4_mib(role: Role) -> None:
    conn = Connection(role)
    assert_failed(conn, conn.receive_data(_header_to(conn, BINARY, 4 * 1024 * 1024 + 1)), 1009)


@pytest.mark.parametrize("reads", [[7], [3, 200_000], [70_000, 70_000, 70_000], [1] * 50])
def test_a_large_binary_frame_over_many_reads(conn: Connection, reads: list[int]) -> None:
    payload = bytes(range(256)) * 1000
    data = wire_to(conn, BINARY, payload) + wire_to(conn, TEXT, b"next")
    events: list[WSMessage] = []
    pos = 0
    for size in [*reads, len(data)]:
        events += conn.receive_data(data[pos : pos + size])
        pos += size
    assert [(m.type, m.data) for m in events] == [
        (WSMsgType.BINARY, payload),
        (WSMsgType.TEXT, "next"),
    ]


def test_a_reused_read_buffer_does_not_change_a_message(conn: Connection) -> None:
    """What the connection keeps between reads is its own, not the caller's buffer."""
    payload = b"keep me" * 10_000
    data = wire_to(conn, BINARY, payload)
    buffer = bytearray(data[:1000])
    assert conn.receive_data(buffer) == []
    buffer[:] = b"\xff" * len(buffer)  # the caller reads the next bytes into it
    [msg] = conn.receive_data(data[1000:])
    assert msg.data == payload


def test_the_rest_of_a_large_frame_is_read_into_place(conn: Connection) -> None:
    """With the compiled payload buffer a transport reads a large frame's remaining
    payload straight into the message; the pure-Python path has no such buffer."""
    payload = bytes(range(256)) * 400
    after = wire_to(conn, TEXT, b"after")
    data = wire_to(conn, BINARY, payload) + after
    assert conn.receive_data(data[:1000]) == []
    view = conn.payload_buffer()
    if view is None:
        assert not HAS_SPEEDUPS
        events = conn.receive_data(data[1000:])
    else:
        rest = len(data) - len(after) - 1000
        assert len(view) == rest
        view[:10] = data[1000:1010]  # as recv_into would
        assert conn.payload_received(10) == []
        second = conn.payload_buffer()
        assert second is not None and len(second) == rest - 10
        second[:] = data[1010 : 1000 + rest]
        events = conn.payload_received(rest - 10)
        assert conn.payload_buffer() is None
        events += conn.receive_data(after)
    assert [(m.type, m.data) for m in events] == [
        (WSMsgType.BINARY, payload),
        (WSMsgType.TEXT, "after"),
    ]


def test_payload_received_needs_a_payload_buffer(conn: Connection) -> None:
    with pytest.raises(ValueError, match="without a payload_buffer"):
        conn.payload_received(1)


def test_a_half_received_payload_ends_with_the_connection(conn: Connection) -> None:
    data = wire_to(conn, BINARY, bytes(100_000))
    assert conn.receive_data(data[:1000]) == []
    conn.receive_eof()
    assert conn.payload_buffer() is None
    with pytest.raises(ValueError, match="without a payload_buffer"):
        conn.payload_received(1)
