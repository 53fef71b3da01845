"""What a connection refuses (RFC 6455 section 5): an ERROR event and the right close.

Every refusal is checked as a user sees it: the events end with ERROR, a close frame
with the code waits in ``data_to_send()``, and nothing after it is parsed.
"""

from __future__ import annotations

import pytest
from protocol_wire import assert_failed, wire, wire_to

from tidewire.protocol.connection import Connection, State
from tidewire.protocol.frames import Opcode
from tidewire.protocol.messages import (
    WSMessageBinary,
    WSMessageClose,
    WSMessagePing,
    WSMessagePong,
    WSMessageText,
    WSMsgType,
)

TEXT, BINARY, CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION


@pytest.mark.parametrize("opcode", [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcodes_are_refused(conn: Connection, opcode: int) -> None:
    assert_failed(conn, conn.receive_data(wire_to(conn, opcode, b"x")), 1002)


@pytest.mark.parametrize("rsv", [0x40, 0x20, 0x10, 0x60])
@pytest.mark.parametrize("opcode", [TEXT, BINARY, Opcode.PING])
def test_rsv_bits_without_an_extension_are_refused(conn: Connection, rsv: int, opcode: int) -> None:
    assert_failed(conn, conn.receive_data(wire_to(conn, opcode, b"x", rsv=rsv)), 1002)


def test_server_refuses_an_unmasked_client_frame(server: Connection) -> None:
    assert_failed(server, server.receive_data(wire(TEXT, b"hi", masked=False)), 1002)


def test_client_refuses_a_masked_server_frame(client: Connection) -> None:
    assert_failed(client, client.receive_data(wire(TEXT, b"hi", masked=True)), 1002)


def test_64_bit_length_with_high_bit_fails_the_connection(conn: Connection) -> None:
    events = conn.receive_data(b"\x82\xff" + b"\x80" + b"\x00" * 7 + b"\x00" * 4)
    assert_failed(conn, events, 1002)


@pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG, Opcode.CLOSE])
def test_control_frames_longer_than_125_bytes_are_refused(conn: Connection, opcode: int) -> None:
    payload = b"\x03\xe8" + b"a" * 124 if opcode == Opcode.CLOSE else b"a" * 126
    assert_failed(conn, conn.receive_data(wire_to(conn, opcode, payload)), 1002)


@pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG, Opcode.CLOSE])
def test_control_frames_of_125_bytes_are_fine(conn: Connection, opcode: int) -> None:
    payload = b"\x03\xe8" + b"a" * 123 if opcode == Opcode.CLOSE else b"a" * 125
    (event,) = conn.receive_data(wire_to(conn, opcode, payload))
    assert event.type == opcode
    assert event.data == (1000 if opcode == Opcode.CLOSE else payload)


@pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG, Opcode.CLOSE])
def test_fragmented_control_frames_are_refused(conn: Connection, opcode: int) -> None:
    assert_failed(conn, conn.receive_data(wire_to(conn, opcode, b"", fin=False)), 1002)


def test_continuation_without_a_message_is_refused(conn: Connection) -> None:
    assert_failed(conn, conn.receive_data(wire_to(conn, CONT, b"lost")), 1002)


def test_continuation_after_a_finished_message_is_refused(conn: Connection) -> None:
    data = wire_to(conn, TEXT, b"done") + wire_to(conn, CONT, b"more")
    events = conn.receive_data(data)
    assert events[0] == WSMessageText(WSMsgType.TEXT, "done", None)
    assert_failed(conn, events, 1002)


@pytest.mark.parametrize("second", [TEXT, BINARY])
def test_new_data_frame_inside_a_fragmented_message_is_refused(
    conn: Connection, second: int
) -> None:
    data = wire_to(conn, TEXT, b"part", fin=False) + wire_to(conn, second, b"new")
    assert_failed(conn, conn.receive_data(data), 1002)


def test_control_frames_interleaved_in_a_fragmented_message(conn: Connection) -> None:
    data = b"".join(
        [
            wire_to(conn, BINARY, b"one ", fin=False),
            wire_to(conn, Opcode.PING, b"p1"),
            wire_to(conn, CONT, b"two ", fin=False),
            wire_to(conn, Opcode.PONG, b"p2"),
            wire_to(conn, CONT, b"", fin=False),
            wire_to(conn, Opcode.PING, b""),
            wire_to(conn, CONT, b"three"),
        ]
    )
    assert conn.receive_data(data) == [
        WSMessagePing(WSMsgType.PING, b"p1", None),
        WSMessagePong(WSMsgType.PONG, b"p2", None),
        WSMessagePing(WSMsgType.PING, b"", None),
        WSMessageBinary(WSMsgType.BINARY, b"one two three", None),
    ]
    assert conn.answer_close() == b""
    assert conn.state is State.OPEN


def test_close_inside_a_fragmented_message_ends_it(conn: Connection) -> None:
    data = wire_to(conn, TEXT, b"par", fin=False) + wire_to(conn, Opcode.CLOSE, b"\x03\xe9")
    assert conn.receive_data(data) == [WSMessageClose(WSMsgType.CLOSE, 1001, "")]
    assert conn.state is State.REMOTE_CLOSED


def test_frames_split_anywhere_give_the_same_messages(conn: Connection) -> None:
    data = b"".join(
        [
            wire_to(conn, TEXT, "héllo wörld".encode(), fin=False),
            wire_to(conn, Opcode.PING, b"ping"),
            wire_to(conn, CONT, "…ünïcode".encode()),
            wire_to(conn, BINARY, bytes(range(256)) * 300),
            wire_to(conn, BINARY, b""),
            wire_to(conn, TEXT, b""),
        ]
    )
    expected = Connection(conn.role).receive_data(data)
    assert [m.type for m in expected] == [
        WSMsgType.PING,
        WSMsgType.TEXT,
        WSMsgType.BINARY,
        WSMsgType.BINARY,
        WSMsgType.TEXT,
    ]
    assert expected[1].data == "héllo wörld…ünïcode"
    bytewise = Connection(conn.role)
    events = [m for i in range(len(data)) for m in bytewise.receive_data(data[i : i + 1])]
    assert events == expected
    for cut in (1, 2, 5, 17, 100, 1000, len(data) - 1):
        split = Connection(conn.role)
        assert split.receive_data(data[:cut]) + split.receive_data(data[cut:]) == expected


def test_nothing_is_parsed_after_a_failure(conn: Connection) -> None:
    data = wire_to(conn, 0x3, b"") + wire_to(conn, TEXT, b"never")
    events = conn.receive_data(data)
    assert [m.type for m in events] == [WSMsgType.ERROR]
    assert conn.state is State.REMOTE_CLOSED
