"""Close codes, close payloads and the closing handshake's state machine, both roles."""

from __future__ import annotations

import struct

import pytest
from protocol_wire import assert_failed, close_code_sent, read_frames, wire_to

from tidewire.protocol import connection
from tidewire.protocol.close import CloseCode, build_close, is_valid_wire_code, parse_close
from tidewire.protocol.connection import Connection, Role, State, Teardown
from tidewire.protocol.errors import ConnectionClosed, ProtocolError
from tidewire.protocol.frames import Opcode
from tidewire.protocol.messages import WSMessageClose, WSMessageText, WSMsgType

VALID = [
    1000,
    1001,
    1002,
    1003,
    1007,
    1008,
    1009,
    1010,
    1011,
    1012,
    1013,
    1014,
    3000,
    3999,
    4000,
    4999,
]
INVALID = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


def _close(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


@pytest.mark.parametrize("code", VALID)
def test_valid_codes_parse_and_build(code: int) -> None:
    assert is_valid_wire_code(code)
    assert parse_close(_close(code, "é".encode())) == (code, "é")
    assert build_close(code, "é") == _close(code, "é".encode())


@pytest.mark.parametrize("code", INVALID)
def test_invalid_codes_are_refused_both_ways(code: int) -> None:
    assert not is_valid_wire_code(code)
    with pytest.raises(ProtocolError) as info:
        parse_close(_close(code))
    assert info.value.code == 1002
    if code != 1005:  # 1005 builds the empty close
        with pytest.raises(ValueError):
            build_close(code)


def test_empty_payload_means_no_status() -> None:
    assert parse_close(b"") == (1005, "")
    assert build_close(None) == b""
    assert build_close(CloseCode.NO_STATUS_RECEIVED) == b""
    with pytest.raises(ValueError):
        build_close(None, "reason without a code")


def test_one_byte_payload_is_refused() -> None:
    with pytest.raises(ProtocolError):
        parse_close(b"\x03")


def test_reason_must_be_utf8() -> None:
    with pytest.raises(ProtocolError) as info:
        parse_close(_close(1000, b"\xff"))
    assert info.value.code == 1007


def test_reason_length_limit() -> None:
    assert len(build_close(1000, "a" * 123)) == 125
    with pytest.raises(ValueError):
        build_close(1000, "a" * 124)


@pytest.mark.parametrize("code", [1000, 1001, 1011, 3000, 4999])
def test_peer_close_is_echoed_with_its_code(conn: Connection, code: int) -> None:
    events = conn.receive_data(wire_to(conn, Opcode.CLOSE, _close(code, b"bye")))
    assert events == [WSMessageClose(WSMsgType.CLOSE, code, "bye")]
    assert conn.state is State.REMOTE_CLOSED
    assert (conn.close_code, conn.close_reason, conn.close_received) == (code, "bye", True)
    assert close_code_sent(conn) == code
    assert conn.state is State.CLOSED
    assert conn.answer_close() == b""  # only once


def test_empty_close_is_echoed_empty(conn: Connection) -> None:
    assert conn.receive_data(wire_to(conn, Opcode.CLOSE)) == [
        WSMessageClose(WSMsgType.CLOSE, 1005, "")
    ]
    assert close_code_sent(conn) is None


@pytest.mark.parametrize(
    ("payload", "code"),
    [(_close(c), 1002) for c in INVALID] + [(b"\x03", 1002), (_close(1000, b"\xc3"), 1007)],
)
def test_bad_close_frames_fail_the_connection(conn: Connection, payload: bytes, code: int) -> None:
    assert_failed(conn, conn.receive_data(wire_to(conn, Opcode.CLOSE, payload)), code)


def test_we_close_first(conn: Connection) -> None:
    (frame,) = read_frames(conn.send_close(4000, "done"))
    assert (frame.opcode, frame.payload) == (Opcode.CLOSE, _close(4000, b"done"))
    assert conn.state is State.CLOSING
    assert conn.send_close() == b""  # a second close says nothing
    with pytest.raises(ConnectionClosed) as info:
        conn.send_text("late")
    assert (info.value.code, info.value.reason) == (4000, "done")
    with pytest.raises(ConnectionClosed):
        conn.send_binary(b"late")
    # data the peer sent before it saw our close still arrives
    assert conn.receive_data(wire_to(conn, Opcode.TEXT, b"in flight")) == [
        WSMessageText(WSMsgType.TEXT, "in flight", None)
    ]
    assert conn.receive_data(wire_to(conn, Opcode.CLOSE, _close(4000))) == [
        WSMessageClose(WSMsgType.CLOSE, 4000, "")
    ]
    assert conn.state is State.CLOSED
    assert conn.answer_close() == b""
    assert conn.receive_data(wire_to(conn, Opcode.TEXT, b"after")) == []


def test_peer_closes_first_and_we_may_still_answer(conn: Connection) -> None:
    conn.receive_data(wire_to(conn, Opcode.CLOSE, _close(1001)))
    # what the application answers to earlier messages may still go out
    (frame,) = read_frames(conn.send_text("last words"))
    assert frame.payload == b"last words"
    assert close_code_sent(conn) == 1001
    for send in (conn.send_text, conn.send_ping, conn.send_pong):
        with pytest.raises(ConnectionClosed):
            send("x" if send == conn.send_text else b"x")  # type: ignore[operator]


def test_failure_while_closing_sends_nothing_more(conn: Connection) -> None:
    conn.send_close(1000)
    events = conn.receive_data(wire_to(conn, 0x3))
    assert events[-1].type is WSMsgType.ERROR
    assert conn.state is State.CLOSED
    assert conn.answer_close() == b""
    assert conn.close_code == 1000


def test_pings_are_allowed_while_closing(conn: Connection) -> None:
    conn.send_close()
    assert read_frames(conn.send_ping(b"still there?"))[0].payload == b"still there?"


def test_control_payload_over_125_bytes_cannot_be_sent(conn: Connection) -> None:
    with pytest.raises(ValueError):
        conn.send_ping(b"x" * 126)
    with pytest.raises(ValueError):
        conn.send_close(1000, "x" * 124)


def test_eof_without_a_close_is_1006(conn: Connection) -> None:
    conn.receive_data(wire_to(conn, Opcode.TEXT, b"partial", fin=False))
    conn.receive_eof()
    assert (conn.state, conn.close_code) == (State.CLOSED, 1006)
    with pytest.raises(ConnectionClosed) as info:
        conn.send_text("x")
    assert info.value.code == 1006


def test_eof_after_we_sent_close_is_still_1006(conn: Connection) -> None:
    conn.send_close(1000)
    conn.receive_eof()
    assert conn.close_code == 1006


def test_eof_after_the_peers_close_keeps_its_code(conn: Connection) -> None:
    conn.receive_data(wire_to(conn, Opcode.CLOSE, _close(1001)))
    conn.receive_eof()
    assert (conn.state, conn.close_code) == (State.CLOSED, 1001)


# -- what the connection decides: receiving, the answer due, the TCP teardown ----------


def _expected_teardown(conn: Connection) -> Teardown:
    """RFC 6455 section 7.1.1: the server closes TCP first, the client waits for it."""
    return Teardown.CLOSE if conn.role is Role.SERVER else Teardown.AWAIT


def test_an_open_connection_receives_and_keeps_its_tcp_connection(conn: Connection) -> None:
    assert (conn.receiving, conn.teardown, conn.close_due) == (True, Teardown.NONE, False)
    assert conn.answer_close() == b""  # nothing to answer


def test_the_peer_closes_first_then_our_answer_ends_it(conn: Connection) -> None:
    conn.receive_data(wire_to(conn, Opcode.CLOSE, _close(1001)))
    assert (conn.receiving, conn.teardown, conn.close_due) == (False, Teardown.NONE, True)
    close_code_sent(conn)
    assert (conn.state, conn.teardown, conn.close_due) == (
        State.CLOSED,
        _expected_teardown(conn),
        False,
    )


def test_we_close_first_then_the_peers_answer_ends_it(conn: Connection) -> None:
    conn.send_close(1000)
    assert (conn.receiving, conn.teardown, conn.close_due) == (True, Teardown.NONE, False)
    conn.receive_data(wire_to(conn, Opcode.CLOSE, _close(1000)))
    assert (conn.receiving, conn.teardown) == (False, _expected_teardown(conn))


def test_a_violation_while_we_close_ends_it_at_once(conn: Connection) -> None:
    conn.send_close(1000)
    conn.receive_data(wire_to(conn, 0x3))
    assert (conn.state, conn.teardown, conn.close_due) == (
        State.CLOSED,
        _expected_teardown(conn),
        False,
    )


def test_the_end_of_the_stream_leaves_nothing_to_tear_down(conn: Connection) -> None:
    conn.send_close(1000)
    conn.receive_eof()
    assert (conn.state, conn.receiving, conn.teardown) == (State.CLOSED, False, Teardown.NONE)
    assert conn.receive_data(wire_to(conn, Opcode.TEXT, b"late")) == []


@pytest.mark.parametrize("code", [None, 1008])
def test_failing_on_our_side_aborts_with_1006(conn: Connection, code: int | None) -> None:
    frame = conn.fail(code, "too slow" if code else "")
    if code is None:
        assert frame == b""
    else:
        (sent,) = read_frames(frame)
        assert (sent.opcode, sent.payload) == (Opcode.CLOSE, _close(code, b"too slow"))
    assert (conn.state, conn.receiving, conn.teardown) == (State.CLOSED, False, Teardown.ABORT)
    assert (conn.close_code, conn.close_reason) == (1006, "too slow" if code else "")
    assert conn.receive_data(wire_to(conn, Opcode.TEXT, b"late")) == []
    with pytest.raises(ConnectionClosed) as info:
        conn.send_text("late")
    assert info.value.code == 1006
    assert conn.fail(1000) == b""  # our close went already: no second one


def test_failing_after_the_peers_close_keeps_its_code(conn: Connection) -> None:
    conn.receive_data(wire_to(conn, Opcode.CLOSE, _close(4001, b"done")))
    (sent,) = read_frames(conn.fail(1011))
    assert sent.payload == _close(1011)
    assert (conn.close_code, conn.close_reason, conn.teardown) == (4001, "done", Teardown.ABORT)


def test_a_bad_close_for_a_failure_raises_and_changes_nothing(conn: Connection) -> None:
    with pytest.raises(ValueError):
        conn.fail(1006)  # a code for local use only: never on the wire
    assert (conn.state, conn.teardown, conn.close_code) == (State.OPEN, Teardown.NONE, None)


def test_the_state_is_read_only(conn: Connection) -> None:
    for name in ("state", "close_code", "close_reason", "close_received", "role", "deflate"):
        with pytest.raises(AttributeError):
            setattr(conn, name, None)


def test_the_documented_transitions_are_the_ones_taken() -> None:
    """The table in connection.py's docstring is ``_TRANSITIONS``, row for row."""
    doc = connection.__doc__ or ""
    lines = doc[doc.index("event / state") :].splitlines()
    states = lines[0].split()[3:]
    documented = {}
    for line in lines[1:6]:
        *words, a, b, c, d = line.split()
        event = connection._Event(" ".join(words))
        for state, cell in zip(states, (a, b, c, d), strict=True):
            if cell != "-":
                documented[State[state], event] = State[cell]
    taken = {
        (state, event): after
        for state, row in connection._TRANSITIONS.items()
        for event, after in row.items()
    }
    assert documented == taken


# A client frame with RSV1 set and no extension agreed: a violation (1002).
_RSV1_FRAME = bytes([0x80 | 0x40 | 0x1, 0x80 | 0]) + b"\0\0\0\0"


def test_a_violations_code_outlives_the_tcp_close() -> None:
    conn = Connection(Role.SERVER)
    assert conn.receive_data(_RSV1_FRAME)[-1].type is WSMsgType.ERROR
    assert conn.answer_close()  # our 1002 answers it: the handshake is over on our side
    conn.receive_eof()  # then TCP closes, as the server makes it do
    assert conn.close_code == CloseCode.PROTOCOL_ERROR


def test_our_close_code_outlives_a_garbage_answer_and_the_tcp_close() -> None:
    conn = Connection(Role.SERVER)
    conn.send_close(CloseCode.GOING_AWAY, "bye")
    conn.receive_data(_RSV1_FRAME)  # the peer answers with a violation: CLOSED
    conn.receive_eof()
    assert conn.close_code == CloseCode.GOING_AWAY


def test_an_end_before_the_handshake_is_over_is_1006() -> None:
    conn = Connection(Role.SERVER)
    assert conn.receive_data(_RSV1_FRAME)[-1].type is WSMsgType.ERROR
    conn.receive_eof()  # our answer never went: the handshake did not finish
    assert conn.close_code == CloseCode.ABNORMAL_CLOSURE
