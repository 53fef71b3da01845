"""Hypothesis round trips: random messages, fragmentations, compression and splits."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tidewire.protocol.connection import Connection, Role
from tidewire.protocol.deflate import DeflateParams
from tidewire.protocol.frames import RSV1, Opcode, apply_mask, build_header
from tidewire.protocol.messages import (
    WSMessage,
    WSMessageBinary,
    WSMessagePing,
    WSMessageText,
    WSMsgType,
)

SIZES = st.one_of(st.sampled_from([0, 1, 125, 126, 127, 65535, 65536]), st.integers(0, 3000))
ROLES = st.sampled_from([Role.SERVER, Role.CLIENT])
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def messages(draw: st.DrawFn) -> WSMessage:
    size = draw(SIZES)
    if draw(st.booleans()):
        text = draw(st.text(max_size=40))
        # repeat a random text up to the chosen size, multi-byte characters included
        text = (text * (size // max(len(text), 1) + 1))[:size] if text else ""
        return WSMessageText(WSMsgType.TEXT, text, None)
    seed = draw(st.binary(min_size=1, max_size=64))
    return WSMessageBinary(WSMsgType.BINARY, (seed * (size // len(seed) + 1))[:size], None)


@st.composite
def deflate_settings(draw: st.DrawFn) -> DeflateParams | None:
    if not draw(st.booleans()):
        return None
    return DeflateParams(
        server_no_context_takeover=draw(st.booleans()),
        client_no_context_takeover=draw(st.booleans()),
        server_max_window_bits=draw(st.integers(8, 15)),
        client_max_window_bits=draw(st.integers(8, 15)),
    )


@dataclass
class Peer:
    """Builds what the other side of ``role`` sends, with frames made by hand."""

    role: Role  # the receiving connection's role
    params: DeflateParams | None
    compressor: zlib._Compress | None = None

    def payload(self, msg: WSMessage, compress: bool) -> bytes:
        raw = msg.data.encode() if msg.type is WSMsgType.TEXT else msg.data
        if not compress:
            return raw  # type: ignore[no-any-return]
        assert self.params is not None
        # the sender is the receiver's peer: its window and takeover apply
        sender_is_client = self.role is Role.SERVER
        bits = (
            self.params.client_max_window_bits
            if sender_is_client
            else self.params.server_max_window_bits
        )
        reset = (
            self.params.client_no_context_takeover
            if sender_is_client
            else self.params.server_no_context_takeover
        )
        if self.compressor is None or reset:
            self.compressor = zlib.compressobj(6, zlib.DEFLATED, -max(bits, 9))
        out = self.compressor.compress(raw) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        return out[:-4]

    def frame(self, opcode: int, payload: bytes, fin: bool, rsv: int, mask: bytes) -> bytes:
        if self.role is Role.SERVER:
            return build_header(opcode, len(payload), fin=fin, rsv=rsv, mask=mask) + apply_mask(
                payload, mask
            )
        return build_header(opcode, len(payload), fin=fin, rsv=rsv) + payload


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@SETTINGS
@given(
    role=ROLES,
    params=deflate_settings(),
    msgs=st.lists(messages(), min_size=1, max_size=6),
    data=st.data(),
)
def test_hand_built_frames_parse_back(
    role: Role, params: DeflateParams | None, msgs: list[WSMessage], data: st.DataObject
) -> None:
    peer = Peer(role, params)
    stream: list[bytes] = []
    expected: list[WSMessage] = []
    for msg in msgs:
        compress = params is not None and data.draw(st.booleans())
        payload = peer.payload(msg, compress)
        cuts = sorted(data.draw(st.lists(st.integers(0, len(payload)), max_size=4)))
        pieces = _split(payload, cuts)
        for i, piece in enumerate(pieces):
            opcode = msg.type if i == 0 else Opcode.CONTINUATION
            rsv = RSV1 if compress and i == 0 else 0
            last = i == len(pieces) - 1
            mask = data.draw(st.binary(min_size=4, max_size=4))
            stream.append(peer.frame(opcode, piece, last, rsv, mask))
            if last:
                expected.append(msg)
            if data.draw(st.integers(0, 4)) == 0:  # a ping between or after fragments
                ping = data.draw(st.binary(max_size=125))
                stream.append(peer.frame(Opcode.PING, ping, True, 0, mask))
                expected.append(WSMessagePing(WSMsgType.PING, ping, None))
    raw = b"".join(stream)
    conn = Connection(role, deflate=params, max_message_size=0)
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=20))
    received = [event for chunk in _split(raw, cuts) for event in conn.receive_data(chunk)]
    assert received == expected


@SETTINGS
@given(
    params=deflate_settings(),
    threshold=st.sampled_from([0, 64, 1000]),
    msgs=st.lists(messages(), min_size=1, max_size=6),
    client_sends=st.booleans(),
    cuts=st.lists(st.integers(0, 10**6), max_size=20),
)
def test_send_then_receive_between_our_two_roles(
    params: DeflateParams | None,
    threshold: int,
    msgs: list[WSMessage],
    client_sends: bool,
    cuts: list[int],
) -> None:
    server = Connection(Role.SERVER, deflate=params, compress_threshold=threshold)
    client = Connection(Role.CLIENT, deflate=params, compress_threshold=threshold)
    sender, receiver = (client, server) if client_sends else (server, client)
    raw = b"".join(
        sender.send_text(m.data) if m.type is WSMsgType.TEXT else sender.send_binary(m.data)
        for m in msgs
    )
    received = [event for chunk in _split(raw, cuts) for event in receiver.receive_data(chunk)]
    assert received == msgs
