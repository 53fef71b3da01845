"""permessage-deflate (RFC 7692): negotiation of its four parameters and the codec.

Compressors are created lazily, on the first compressed message, and dropped after
every message when context takeover is off: a zlib compressor costs about 256 KiB,
and most idle connections never need one.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from .errors import PayloadTooBig, ProtocolError

EXTENSION_NAME = "permessage-deflate"
_TAIL = b"\x00\x00\xff\xff"
_MIN_BITS, _MAX_BITS = 8, 15

ExtensionParams = list[tuple[str, "str | None"]]


@dataclass(frozen=True)
class DeflateParams:
    """The permessage-deflate parameters a handshake agreed, named as in RFC 7692
    (server: the side that accepted the connection).

    ``*_no_context_takeover``: that side compresses every message on its own (no
    history kept between messages); ``*_max_window_bits`` (8 to 15): the LZ77 window
    that side compresses with, which the other side must be able to inflate.
    ``Connection.use_deflate`` takes one of these.
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = _MAX_BITS
    client_max_window_bits: int = _MAX_BITS

    def as_header(self) -> str:
        """The extension as it appears in a Sec-WebSocket-Extensions header."""
        parts = [EXTENSION_NAME]
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        if self.server_max_window_bits < _MAX_BITS:
            parts.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.client_max_window_bits < _MAX_BITS:
            parts.append(f"client_max_window_bits={self.client_max_window_bits}")
        return "; ".join(parts)


def _window_bits(value: str | None, *, optional: bool) -> int | None:
    if value is None:
        if optional:
            return None
        raise ProtocolError("max_window_bits needs a value")
    if (
        not (value.isascii() and value.isdigit())
        or value.startswith("0")
        or not _MIN_BITS <= int(value) <= _MAX_BITS
    ):
        raise ProtocolError(f"invalid max_window_bits value {value!r}")
    return int(value)


class _Offer:
    """One permessage-deflate offer or answer, its parameters checked once."""

    __slots__ = ("client_bits", "client_bits_present", "client_nct", "server_bits", "server_nct")

    def __init__(self, params: ExtensionParams) -> None:
        seen: set[str] = set()
        self.server_nct = self.client_nct = self.client_bits_present = False
        self.server_bits: int | None = None
        self.client_bits: int | None = None
        for name, value in params:
            if name in seen:
                raise ProtocolError(f"duplicate permessage-deflate parameter {name}")
            seen.add(name)
            if name in ("server_no_context_takeover", "client_no_context_takeover"):
                if value is not None:
                    raise ProtocolError(f"{name} takes no value")
                if name == "server_no_context_takeover":
                    self.server_nct = True
                else:
                    self.client_nct = True
            elif name == "server_max_window_bits":
                self.server_bits = _window_bits(value, optional=False)
            elif name == "client_max_window_bits":
                self.client_bits_present = True
                self.client_bits = _window_bits(value, optional=True)
            else:
                raise ProtocolError(f"unknown permessage-deflate parameter {name}")


@dataclass(frozen=True)
class ServerDeflate:
    """What a server is willing to agree to, for ``handshake.accept_request``.

    ``server_no_context_takeover=True`` makes every message compress on its own, which
    lets a publisher compress once and send the same bytes to many connections;
    ``server_max_window_bits`` caps our window (less memory, less compression);
    ``client_no_context_takeover=True`` asks the same of the client.
    """

    server_no_context_takeover: bool = False
    server_max_window_bits: int = _MAX_BITS
    client_no_context_takeover: bool = False

    def accept(self, offers: list[ExtensionParams]) -> DeflateParams | None:
        """The parameters of the first acceptable offer among a request's
        ``offers`` (RFC 7692 section 5.1); None declines them all. A malformed offer
        is declined, never raised."""
        for params in offers:
            try:
                offer = _Offer(params)
            except ProtocolError:
                continue  # a malformed offer is declined, a later one may still do
            server_bits = min(offer.server_bits or _MAX_BITS, self.server_max_window_bits)
            client_bits = offer.client_bits or _MAX_BITS
            return DeflateParams(
                server_no_context_takeover=offer.server_nct or self.server_no_context_takeover,
                client_no_context_takeover=offer.client_nct or self.client_no_context_takeover,
                server_max_window_bits=server_bits,
                client_max_window_bits=client_bits,
            )
        return None


@dataclass(frozen=True)
class ClientDeflate:
    """What a client offers, for ``handshake.request_headers``.

    ``client_max_window_bits`` bounds our own compression window;
    ``server_max_window_bits`` (None: no limit asked) and
    ``server_no_context_takeover`` ask the server to compress within a window, or
    message by message; ``client_no_context_takeover`` promises we do.
    """

    client_max_window_bits: int = _MAX_BITS
    server_max_window_bits: int | None = None
    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False

    def offer(self) -> str:
        """The offer as a Sec-WebSocket-Extensions header value."""
        parts = [EXTENSION_NAME]
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        if self.server_max_window_bits is not None:
            parts.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.client_max_window_bits < _MAX_BITS:
            parts.append(f"client_max_window_bits={self.client_max_window_bits}")
        else:
            parts.append("client_max_window_bits")
        return "; ".join(parts)

    def accept(self, params: ExtensionParams) -> DeflateParams:
        """The parameters the server's answer (``params``) agrees to; raises
        ProtocolError when the answer breaks RFC 7692 or does not fit our offer."""
        answer = _Offer(params)
        if self.server_max_window_bits is not None and (
            answer.server_bits is None or answer.server_bits > self.server_max_window_bits
        ):
            raise ProtocolError("server_max_window_bits answer exceeds the offer")
        if self.server_no_context_takeover and not answer.server_nct:
            raise ProtocolError("server ignored server_no_context_takeover")
        if answer.client_bits_present and answer.client_bits is None:
            raise ProtocolError("client_max_window_bits answer needs a value")
        return DeflateParams(
            server_no_context_takeover=answer.server_nct,
            client_no_context_takeover=answer.client_nct or self.client_no_context_takeover,
            server_max_window_bits=answer.server_bits or _MAX_BITS,
            client_max_window_bits=min(
                answer.client_bits or _MAX_BITS, self.client_max_window_bits
            ),
        )


class Compressor:
    """Compresses whole messages for one direction of one connection."""

    __slots__ = ("_level", "_obj", "_reset", "_strategy", "_wbits")

    def __init__(self, window_bits: int, no_context_takeover: bool, level: int = 6) -> None:
        # zlib refuses a raw 256-byte window; Huffman-only output has no back-references
        # at all, so it stays valid for a peer that keeps only 256 bytes of history.
        self._wbits = -max(window_bits, 9)
        self._strategy = zlib.Z_HUFFMAN_ONLY if window_bits == 8 else zlib.Z_DEFAULT_STRATEGY
        self._level = level
        self._reset = no_context_takeover
        self._obj: zlib._Compress | None = None

    def compress(self, data: bytes) -> bytes:
        obj = self._obj
        if obj is None:
            obj = zlib.compressobj(self._level, zlib.DEFLATED, self._wbits, 8, self._strategy)
            if not self._reset:
                self._obj = obj
        out = obj.compress(data) + obj.flush(zlib.Z_SYNC_FLUSH)
        return out[:-4] if out.endswith(_TAIL) else out


class Decompressor:
    """Inflates messages for one direction, never producing more than a limit allows."""

    __slots__ = ("_obj", "_reset")

    def __init__(self, no_context_takeover: bool) -> None:
        # A 15-bit window inflates anything a peer with a smaller window sends.
        self._reset = no_context_takeover
        self._obj: zlib._Decompress | None = None

    def feed(self, data: bytes, limit: int | None) -> bytes:
        """Inflate ``data``; more than ``limit`` bytes out (``None``: no cap) is
        PayloadTooBig. A cap of 0 is real: a message already at its maximum size
        may not grow by a single byte.

        The cap is passed to zlib, so an inflation bomb stops at ``limit + 1`` bytes
        instead of being inflated whole and measured afterwards.
        """
        obj = self._obj
        if obj is None:
            obj = self._obj = zlib.decompressobj(-_MAX_BITS)
        try:
            out = obj.decompress(data, 0 if limit is None else limit + 1)
        except zlib.error as exc:
            raise ProtocolError(f"invalid compressed data: {exc}") from None
        if limit is not None and len(out) > limit:
            raise PayloadTooBig("message too big after decompression")
        return out

    def finish(self, limit: int | None) -> bytes:
        """End a message: inflate the flush marker RFC 7692 strips from the wire."""
        out = self.feed(_TAIL, limit)
        if self._reset:
            self._obj = None
        return out
