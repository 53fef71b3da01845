"""The sans-I/O WebSocket connection: bytes in, messages out; send calls, bytes out.

One ``Connection`` per WebSocket and role. ``receive_data`` parses frames straight
from the bytes it is given, assembles messages, checks every rule of RFC 6455 and
RFC 7692, and returns ``WSMessage`` events. A protocol violation never raises from
``receive_data``: it ends the event list with an ERROR message whose exception
carries the close code to answer with. A whole unfragmented frame becomes its message
at once (a run of them in the compiled ``MessageReader`` when it was built, which
decides nothing: any frame that needs a check or state goes through the Python loop);
a large binary frame still arriving offers ``payload_buffer``, the rest of its
payload, for the caller to read the socket straight into.

The connection never sends on its own, and never touches a socket: its send methods
return the bytes to write, and after each call it says what the caller must do with
the TCP connection (``teardown``). Closing is an explicit state machine (``State``),
h11's way: the transitions each event allows are one table, ``_TRANSITIONS``, and
``_enter`` is the one place that takes them::

    event / state       OPEN            CLOSING   REMOTE_CLOSED   CLOSED
    send close          CLOSING         -         CLOSED          -
    receive close       REMOTE_CLOSED   CLOSED    -               -
    receive violation   REMOTE_CLOSED   CLOSED    -               -
    fail                CLOSED          CLOSED    CLOSED          CLOSED
    end of stream       CLOSED          CLOSED    CLOSED          CLOSED

("-": not allowed; ``send_close`` then returns no bytes, and nothing is received past
REMOTE_CLOSED.) After the peer's close or a violation the connection stops receiving
but may still send, so what the application answers to earlier messages goes out
before the close that ``answer_close`` then produces.
"""

from __future__ import annotations

import codecs
import sys
from collections.abc import Callable
from enum import Enum, IntEnum
from typing import Final

from .close import CloseCode, build_close, parse_close
from .deflate import Compressor, Decompressor, DeflateParams
from .errors import ConnectionClosed, PayloadTooBig, ProtocolError
from .frames import (
    FIN,
    HAS_SPEEDUPS,
    MAX_CONTROL_PAYLOAD,
    RSV1,
    RSV2,
    RSV3,
    Opcode,
    Payload,
    apply_mask,
    build_frame,
    frame_parts,
    new_payload,
    read_header,
)
from .messages import (
    WSMessage,
    WSMessageBinary,
    WSMessageClose,
    WSMessageError,
    WSMessagePing,
    WSMessagePong,
    WSMessageText,
    WSMsgType,
)

_utf8_decoder = codecs.getincrementaldecoder("utf-8")
_KNOWN_OPCODES = frozenset(Opcode)
_FIN_NO_RSV = FIN | RSV1 | RSV2 | RSV3  # masks the bits a plain final frame has
_VIEW_FROM = 4096  # payloads this long are sliced through a memoryview (no copy)
# Frames up to this long get their payload buffer when they start (the compiled one
# reserves it whole, which costs address space only until bytes arrive); longer ones,
# which only an unlimited max_message_size lets through, are gathered piece by piece.
_HOLD_MAX = 64 * 1024 * 1024


def _decode(payload: bytes | bytearray | memoryview) -> str:
    try:
        return str(payload, "utf-8")
    except UnicodeDecodeError:
        raise _invalid_text() from None


def _invalid_text() -> ProtocolError:
    return ProtocolError("invalid UTF-8 in a text message", CloseCode.INVALID_TEXT)


class Role(Enum):
    """Which side of the connection we are: it decides who masks frames (the client)
    and who closes the TCP connection first (the server)."""

    SERVER = "server"
    CLIENT = "client"


class State(IntEnum):
    """Where a connection is in its closing handshake (RFC 6455 section 7); the
    module docstring has the transitions."""

    OPEN = 1
    """Messages go both ways."""
    CLOSING = 2
    """We sent our close frame and wait for the peer's; what it sent before it saw
    ours still arrives."""
    REMOTE_CLOSED = 3
    """The peer's close frame or its violation arrived: nothing more is received, and
    our close is due (``answer_close``); messages may still be sent before it."""
    CLOSED = 4
    """Close frames crossed, or the connection failed or was lost: only the end of
    the TCP connection is left (``teardown``)."""


class Teardown(IntEnum):
    """What the caller does with the TCP connection now, as the connection decided
    on its last event (``Connection.teardown``). NONE is the only false value."""

    NONE = 0
    """Nothing: the closing handshake is not over, or the TCP connection is gone."""
    CLOSE = 1
    """Close it now: the handshake is over and the server closes first (RFC 6455
    section 7.1.1), so the TIME_WAIT stays on the server."""
    AWAIT = 2
    """Wait for the server to close it: the handshake is over and we are the client;
    abort it if the server has not closed it within a timeout."""
    ABORT = 3
    """Drop it at once, unsent bytes included: the connection failed on our side
    (``Connection.fail``)."""


class _Event(str, Enum):
    """What moves the state: the rows of the module docstring's table. A ``str`` enum:
    its members hash as their strings, in C, where a plain Enum's ``__hash__`` is a
    Python call on every transition."""

    SEND_CLOSE = "send close"  # send_close, answer_close, fail with a code
    RECEIVE_CLOSE = "receive close"  # a valid close frame
    RECEIVE_VIOLATION = "receive violation"  # bytes that break RFC 6455 or 7692
    FAIL = "fail"  # fail(): a failure found on our side
    EOF = "end of stream"  # receive_eof()


_TRANSITIONS: dict[State, dict[_Event, State]] = {
    State.OPEN: {
        _Event.SEND_CLOSE: State.CLOSING,
        _Event.RECEIVE_CLOSE: State.REMOTE_CLOSED,
        _Event.RECEIVE_VIOLATION: State.REMOTE_CLOSED,
        _Event.FAIL: State.CLOSED,
        _Event.EOF: State.CLOSED,
    },
    State.CLOSING: {
        _Event.RECEIVE_CLOSE: State.CLOSED,
        _Event.RECEIVE_VIOLATION: State.CLOSED,
        _Event.FAIL: State.CLOSED,
        _Event.EOF: State.CLOSED,
    },
    State.REMOTE_CLOSED: {
        _Event.SEND_CLOSE: State.CLOSED,
        _Event.FAIL: State.CLOSED,
        _Event.EOF: State.CLOSED,
    },
    State.CLOSED: {_Event.FAIL: State.CLOSED, _Event.EOF: State.CLOSED},
}


# Enum members under module names: on Python 3.11 looking up ``Opcode.CLOSE`` costs
# more than the comparison it serves, and the receive loop compares per frame.
_CONTINUATION, _TEXT, _BINARY = Opcode.CONTINUATION, Opcode.TEXT, Opcode.BINARY
_CLOSE = Opcode.CLOSE
_TEXT_MSG: Final = WSMsgType.TEXT  # Final: the message classes take only their own kind
_BINARY_MSG: Final = WSMsgType.BINARY
_OPEN, _CLOSING, _REMOTE_CLOSED, _CLOSED = (
    State.OPEN,
    State.CLOSING,
    State.REMOTE_CLOSED,
    State.CLOSED,
)

# The compiled loop over whole plain frames (a message each, nothing to decide):
# read(src, pos, masked, max_size, events) -> where the first other frame starts.
_read_plain: (
    Callable[[bytes | bytearray | memoryview, int, bool, int, list[WSMessage]], int] | None
) = None
if HAS_SPEEDUPS:
    from ._speedups import MessageReader

    _read_plain = MessageReader(WSMessageText, _TEXT_MSG, WSMessageBinary, _BINARY_MSG).read


class Connection:
    """One side of a WebSocket connection, after the opening handshake.

    ``role`` says which side; ``deflate`` the permessage-deflate parameters the
    handshake agreed (or ``use_deflate`` later); ``max_message_size`` bounds a
    received message, decompressed (0: no limit; a bigger one fails the connection
    with 1009); messages shorter than ``compress_threshold`` bytes are sent
    uncompressed even when deflate is agreed.

    Two attributes are read after each call, on the hot path, so they are plain
    attributes; only the connection changes them:

    - ``receiving``: True while messages may still arrive (OPEN or CLOSING).
    - ``teardown``: what to do with the TCP connection now (a ``Teardown``).
    """

    __slots__ = (
        "_buf",
        "_client",
        "_close_code",
        "_close_reason",
        "_close_received",
        "_compress_threshold",
        "_compressor",
        "_decoder",
        "_decompressor",
        "_deflate",
        "_fin",
        "_held",
        "_mask",
        "_max_size",
        "_msg_compressed",
        "_msg_opcode",
        "_msg_size",
        "_offset",
        "_parts",
        "_remaining",
        "_role",
        "_state",
        "receiving",
        "teardown",
    )

    def __init__(
        self,
        role: Role,
        *,
        deflate: DeflateParams | None = None,
        max_message_size: int = 4 * 1024 * 1024,
        compress_threshold: int = 64,
    ) -> None:
        """A connection of ``role`` in state OPEN; see the class docstring."""
        self._role = role
        self._state = State.OPEN
        self.receiving = True
        self.teardown = Teardown.NONE
        self._deflate: DeflateParams | None = None
        self._close_code: int | None = None
        self._close_reason = ""
        self._close_received = False
        self._client = role is Role.CLIENT
        # 0 (or None) is no limit; a limit past any size a buffer can have is none too
        self._max_size = min(max_message_size or 0, sys.maxsize)
        self._compress_threshold = compress_threshold
        self._compressor: Compressor | None = None
        self._decompressor: Decompressor | None = None
        if deflate is not None:
            self.use_deflate(deflate)
        self._buf = bytearray()
        # The data frame being received: bytes still due, its mask and mask offset.
        self._remaining = -1
        self._mask: bytes | None = None
        self._offset = 0
        self._fin = False
        # A large binary frame's payload, gathered until it is whole.
        self._held: Payload | None = None
        # The message being assembled.
        self._msg_opcode = 0
        self._msg_compressed = False
        self._msg_size = 0
        self._parts: list[bytes] | list[str] = []
        self._decoder: codecs.IncrementalDecoder | None = None

    def use_deflate(self, params: DeflateParams) -> None:
        """Switch permessage-deflate on with the parameters the handshake agreed:
        messages sent from now on are compressed, compressed ones are accepted."""
        self._deflate = params
        if self._client:
            ours = (params.client_max_window_bits, params.client_no_context_takeover)
            peer_nct = params.server_no_context_takeover
        else:
            ours = (params.server_max_window_bits, params.server_no_context_takeover)
            peer_nct = params.client_no_context_takeover
        self._compressor = Compressor(*ours)
        self._decompressor = Decompressor(peer_nct)

    # -- state -------------------------------------------------------------------

    @property
    def role(self) -> Role:
        """Which side of the connection this is."""
        return self._role

    @property
    def deflate(self) -> DeflateParams | None:
        """The permessage-deflate parameters in use; None when messages go uncompressed."""
        return self._deflate

    @property
    def state(self) -> State:
        """Where the connection is in its closing handshake."""
        return self._state

    @property
    def close_code(self) -> int | None:
        """Why the connection ended, once it is ending: the code of whoever closed
        first (the peer's, ours, or a violation's); 1006 (ABNORMAL_CLOSURE) when the
        TCP connection ended, or we failed it, before the closing handshake was over
        and without the peer's close frame; None while open."""
        return self._close_code

    @property
    def close_reason(self) -> str:
        """The reason that came with ``close_code`` (empty when none did)."""
        return self._close_reason

    @property
    def close_received(self) -> bool:
        """Whether the peer's close frame arrived."""
        return self._close_received

    @property
    def close_due(self) -> bool:
        """Whether our close frame is due: the peer's close or its violation arrived
        and ``answer_close`` has not answered it yet."""
        return self._state is _REMOTE_CLOSED

    def _may(self, event: _Event) -> bool:
        return event in _TRANSITIONS[self._state]

    def _enter(self, event: _Event, code: int | None = None, reason: str = "") -> None:
        """Take the transition ``event`` allows from the current state: the one place
        the state changes, and with it ``receiving``, ``teardown`` and the close code.

        ``code`` and ``reason`` are those of a close sent or received, or the code
        of a violation; whoever starts the closing names it."""
        before = self._state
        after = _TRANSITIONS[before].get(event)
        if after is None:  # the callers check first: reaching this is a bug here
            raise RuntimeError(f"{event.value!r} is not allowed in state {before.name}")
        self._state = after
        self.receiving = after is _OPEN or after is _CLOSING
        if event is _Event.RECEIVE_CLOSE:
            self._close_received = True
        if event is _Event.EOF or event is _Event.FAIL:
            # An end before the closing handshake did: 1006, unless the peer's close
            # came. Once CLOSED, the code that closed it stays (a violation's 1002 or
            # 1009, our 1001), whatever the TCP connection does next.
            if before is not _CLOSED and not self._close_received:
                self._close_code = CloseCode.ABNORMAL_CLOSURE
        elif before is _OPEN:
            self._close_code, self._close_reason = code, reason
        if after is _CLOSED:
            if event is _Event.EOF:
                self.teardown = Teardown.NONE
            elif event is _Event.FAIL:
                self.teardown = Teardown.ABORT
            else:
                self.teardown = Teardown.AWAIT if self._client else Teardown.CLOSE

    # -- receiving ---------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[WSMessage]:
        """Feed bytes from the network; return the messages they complete, in order.

        A violation of the protocol does not raise: the list ends with an ERROR
        message (its ``data`` a ``ProtocolError`` with the close code to answer), and
        nothing more is received. Nothing of ``data`` is kept but copies: the caller
        may reuse its buffer at once. Empty once ``receiving`` is False."""
        if not self.receiving:
            return []
        events: list[WSMessage] = []
        buf = self._buf
        if buf:
            buf += data
            src: bytes | bytearray | memoryview = buf
        else:
            src = data
        try:
            pos = self._parse(src, events)
        except ProtocolError as exc:
            self._violation(exc, events)
            return events
        if not self.receiving:  # a close frame ended it: drop the rest
            self._buf = bytearray()
        elif src is buf:
            del buf[:pos]
        elif pos < len(data):
            self._buf = bytearray(data[pos:])
        return events

    def receive_eof(self) -> None:
        """The TCP connection ended: state CLOSED, and ``close_code`` 1006 unless the
        peer's close frame arrived first."""
        self._held = None  # a half-received payload is not kept past the connection
        self._enter(_Event.EOF)

    def _parse(self, src: bytes | bytearray | memoryview, events: list[WSMessage]) -> int:
        pos = 0
        end = len(src)
        while True:
            if self._remaining < 0:
                if _read_plain is not None and not self._msg_opcode:
                    pos = _read_plain(src, pos, not self._client, self._max_size, events)
                    if pos == end:
                        return pos
                fields = read_header(src, pos)
                if fields is None:
                    return pos
                first, mask, length, size = fields
                opcode = first & 0x0F
                self._check_header(first, opcode, mask, length)
                stop = pos + size + length
                if opcode >= _CLOSE:
                    if stop > end:
                        return pos
                    payload = src[pos + size : stop]
                    pos = stop
                    if mask is not None:
                        payload = apply_mask(payload, mask)
                    self._control(opcode, bytes(payload), events)
                    if not self.receiving:
                        return pos
                    continue
                if first & _FIN_NO_RSV == FIN and opcode and stop <= end:
                    # The common case: a whole uncompressed message in one frame, all
                    # here. It needs none of the assembly state below.
                    self._check_size(length)
                    start, pos = pos + size, stop
                    if mask is None:
                        payload = src[start:stop]
                    elif length < _VIEW_FROM:
                        payload = apply_mask(src[start:stop], mask)
                    else:  # unmasked through a view: one copy instead of two
                        payload = apply_mask(memoryview(src)[start:stop], mask)
                    if opcode == _TEXT:
                        events.append(WSMessageText(_TEXT_MSG, _decode(payload), None))
                    else:
                        events.append(WSMessageBinary(_BINARY_MSG, bytes(payload), None))
                    continue
                self._start_frame(first, opcode, mask, length)
                pos += size
                if (
                    end - pos < length <= _HOLD_MAX
                    and self._msg_opcode == _BINARY
                    and not self._msg_compressed
                ):
                    self._held = new_payload(length)  # nothing to check on the way
            take = min(end - pos, self._remaining)
            self._remaining -= take
            last = self._remaining == 0 and self._fin
            held = self._held
            if held is not None:
                held.write(memoryview(src)[pos : pos + take])  # write copies it
                pos += take
                if self._remaining:
                    return pos
                self._feed_held(last)
            elif take:
                chunk = src[pos : pos + take]
                pos += take
                if self._mask is not None:
                    chunk = apply_mask(chunk, self._mask, self._offset)
                    self._offset += take
                self._feed(bytes(chunk), last)
            elif last:
                self._feed(b"", True)
            elif self._remaining:
                return pos
            if self._remaining == 0:
                self._end_frame(events)

    def payload_buffer(self) -> memoryview | None:
        """Where the rest of a large frame's payload may be read straight into (then
        call ``payload_received``); None when no such frame is half-received.

        The view is the memory of the message to be: write into it only before the
        ``payload_received`` call that counts those bytes, as a transport reading into
        it once does, or the message handed out changes under its receiver."""
        return None if self._held is None else self._held.view()

    def payload_received(self, n: int) -> list[WSMessage]:
        """``n`` bytes were read into ``payload_buffer()``; the messages they complete."""
        held = self._held
        if held is None or n > self._remaining:
            raise ValueError("payload_received without a payload_buffer to have read into")
        held.advance(n)
        self._remaining -= n
        events: list[WSMessage] = []
        if not self._remaining:
            self._feed_held(self._fin)
            self._end_frame(events)
        return events

    def _end_frame(self, events: list[WSMessage]) -> None:
        """The frame's payload is all in: the next bytes start a header."""
        self._remaining = -1
        if self._fin:
            events.append(self._finish_message())

    def _feed_held(self, last: bool) -> None:
        held, self._held = self._held, None
        assert held is not None
        self._feed(held.take(self._mask), last)

    def _check_header(self, first: int, opcode: int, mask: bytes | None, length: int) -> None:
        if opcode not in _KNOWN_OPCODES:
            raise ProtocolError(f"reserved opcode {opcode:#x}")
        rsv = first & 0x70
        if rsv and rsv & ~(RSV1 if self._compressor is not None and opcode in (1, 2) else 0):
            raise ProtocolError("reserved bits set without an extension that defines them")
        if self._client:
            if mask is not None:
                raise ProtocolError("a server must not mask its frames")
        elif mask is None:
            raise ProtocolError("a client must mask its frames")
        if opcode >= _CLOSE:
            if not first & FIN:
                raise ProtocolError("fragmented control frame")
            if length > MAX_CONTROL_PAYLOAD:
                raise ProtocolError("control frame payload longer than 125 bytes")
        elif opcode == _CONTINUATION:
            if not self._msg_opcode:
                raise ProtocolError("continuation frame without a message to continue")
        elif self._msg_opcode:
            raise ProtocolError("new data frame inside a fragmented message")

    def _check_size(self, size: int) -> None:
        if self._max_size and size > self._max_size:
            raise PayloadTooBig(f"message of at least {size} bytes exceeds {self._max_size}")

    def _start_frame(self, first: int, opcode: int, mask: bytes | None, length: int) -> None:
        if opcode != _CONTINUATION:
            self._msg_opcode = opcode
            self._msg_compressed = bool(first & RSV1)
            self._msg_size = 0
            self._parts = []
            self._decoder = None
        if not self._msg_compressed:
            self._msg_size += length
            self._check_size(self._msg_size)
        self._remaining = length
        self._mask = mask
        self._offset = 0
        self._fin = bool(first & FIN)

    def _feed(self, chunk: bytes, last: bool) -> None:
        """Take payload bytes as they arrive: inflate, check UTF-8 at once, collect."""
        if self._msg_compressed:
            assert self._decompressor is not None
            limit = self._max_size - self._msg_size if self._max_size else None
            chunk = self._decompressor.feed(chunk, limit)
            if last:
                chunk += self._decompressor.finish(None if limit is None else limit - len(chunk))
            self._msg_size += len(chunk)
        if self._msg_opcode == _BINARY:
            self._parts.append(chunk)  # type: ignore[arg-type]
            return
        decoder = self._decoder
        if decoder is None and last and not self._parts:
            self._parts.append(_decode(chunk))  # type: ignore[arg-type]
            return
        if decoder is None:
            decoder = self._decoder = _utf8_decoder()
        try:
            self._parts.append(decoder.decode(chunk, last))  # type: ignore[arg-type]
        except UnicodeDecodeError:
            raise _invalid_text() from None

    def _finish_message(self) -> WSMessage:
        opcode, parts = self._msg_opcode, self._parts
        self._msg_opcode = 0
        self._parts = []
        self._decoder = None
        if opcode == _TEXT:
            return WSMessageText(_TEXT_MSG, "".join(parts), None)  # type: ignore[arg-type]
        return WSMessageBinary(_BINARY_MSG, b"".join(parts), None)  # type: ignore[arg-type]

    def _control(self, opcode: int, payload: bytes, events: list[WSMessage]) -> None:
        if opcode == Opcode.PING:
            events.append(WSMessagePing(WSMsgType.PING, payload, None))
        elif opcode == Opcode.PONG:
            events.append(WSMessagePong(WSMsgType.PONG, payload, None))
        else:
            code, reason = parse_close(payload)
            self._enter(_Event.RECEIVE_CLOSE, code, reason)
            events.append(WSMessageClose(WSMsgType.CLOSE, code, reason))

    def _violation(self, exc: ProtocolError, events: list[WSMessage]) -> None:
        """Fail the connection for what the peer sent (RFC 6455 section 7.1.7): stop
        receiving; the close with ``exc.code`` is for ``answer_close`` once the earlier
        events are handled (none when our close went already)."""
        self._enter(_Event.RECEIVE_VIOLATION, exc.code)
        self._buf = bytearray()
        events.append(WSMessageError(WSMsgType.ERROR, exc, None))

    # -- sending -----------------------------------------------------------------

    def send_text(self, text: str) -> bytes:
        """The frame of a text message; raises TypeError for anything but ``str``,
        ConnectionClosed once our close frame was sent (or the connection is over)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, not {type(text).__name__}")
        return b"".join(self.message_parts(text))

    def send_binary(self, data: bytes | bytearray | memoryview) -> bytes:
        """The frame of a binary message; raises TypeError for ``str``,
        ConnectionClosed once our close frame was sent (or the connection is over)."""
        if isinstance(data, str):
            raise TypeError("data must be bytes-like, not str")
        return b"".join(self.message_parts(data))

    def message_parts(self, data: str | bytes | bytearray | memoryview) -> tuple[bytes, bytes]:
        """A text (``str``) or binary message as its frame's header and payload, for a
        writer that gathers them: a large payload is not copied behind its header.
        Raises ConnectionClosed once our close frame was sent (or the connection is over)."""
        state = self._state
        if state is not _OPEN and state is not _REMOTE_CLOSED:
            raise ConnectionClosed(self._close_code, self._close_reason)
        if isinstance(data, str):
            opcode, payload = _TEXT, data.encode("utf-8")
        else:
            opcode, payload = _BINARY, data if type(data) is bytes else bytes(data)
        compressor = self._compressor
        if compressor is not None and len(payload) >= self._compress_threshold:
            return frame_parts(opcode, compressor.compress(payload), RSV1, self._client)
        return frame_parts(opcode, payload, 0, self._client)

    def send_ping(self, data: bytes = b"") -> bytes:
        """The frame of a ping carrying ``data``; raises ValueError past 125 bytes,
        ConnectionClosed once the connection is CLOSED."""
        return self._control_frame(Opcode.PING, data)

    def send_pong(self, data: bytes = b"") -> bytes:
        """The frame of a pong carrying ``data`` (a ping's payload, to answer it);
        raises ValueError past 125 bytes, ConnectionClosed once the connection is CLOSED."""
        return self._control_frame(Opcode.PONG, data)

    def send_close(self, code: int | None = CloseCode.OK, reason: str = "") -> bytes:
        """The close frame that starts the closing handshake, or answers the peer's
        close or violation; empty bytes once our close was sent. ``None`` sends a close
        without a code. Raises ValueError for a code or reason a close frame cannot
        carry (the state is then unchanged)."""
        payload = build_close(code, reason)
        if not self._may(_Event.SEND_CLOSE):
            return b""
        self._enter(_Event.SEND_CLOSE, code, reason)
        return self._frame(Opcode.CLOSE, payload)

    def answer_close(self) -> bytes:
        """Our side of a close the peer started (its code echoed) or of a violation
        (the error's code); empty bytes when no answer is due (``close_due``)."""
        if self._state is not _REMOTE_CLOSED:
            return b""
        code = self._close_code
        if code == CloseCode.NO_STATUS_RECEIVED:
            code = None
        return self.send_close(code, "")

    def fail(self, code: int | None = None, reason: str = "") -> bytes:
        """Fail the connection for something found on our side (no pong within the
        heartbeat's deadline, a peer too slow to keep up): state CLOSED, ``teardown``
        ABORT, ``close_code`` 1006 (ABNORMAL_CLOSURE) unless the peer's close arrived.

        With ``code``, returns a close frame with ``code`` and ``reason`` to write
        before dropping the connection, when our close was not sent yet (empty bytes
        otherwise): the peer learns why if it still reads. Raises ValueError for a code
        or reason a close frame cannot carry (the state is then unchanged)."""
        frame = b"" if code is None else self.send_close(code, reason)
        self._enter(_Event.FAIL)
        return frame

    def _control_frame(self, opcode: int, data: bytes) -> bytes:
        if len(data) > MAX_CONTROL_PAYLOAD:
            raise ValueError("control frame payload longer than 125 bytes")
        if self._state is _CLOSED:
            raise ConnectionClosed(self._close_code, self._close_reason)
        return self._frame(opcode, bytes(data))

    def _frame(self, opcode: int, payload: bytes) -> bytes:
        return build_frame(opcode, payload, masked=self._client)
