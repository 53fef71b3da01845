"""What instrumentation may learn of one WebSocket: messages and bytes each way, and
optionally its last messages. None of it is kept unless a tool asks for it.

A ``WebSocket`` carries ``stats = None`` and pays one check per read and per send for
it. Tools that watch connections (the server's metrics, its debug toolbar) attach a
``MessageStats`` before the connection starts, and read it when they are asked: counting
is plain integer additions on the connection's own object, never a call into the tool.
"""

from __future__ import annotations

from collections import deque

__all__ = ["MessageStats"]


class MessageStats:
    """Counters of one WebSocket, updated by it as it goes.

    ``messages_in`` and ``messages_out`` count text and binary messages (pings, pongs
    and close frames are not messages); ``bytes_in`` and ``bytes_out`` count bytes read
    from and written to the socket, framing and compression included: what crossed the
    network. With ``keep`` > 0, ``recent`` holds the last ``keep`` messages each way as
    ``(outgoing, data)``, each cut to ``truncate`` characters or bytes.
    """

    __slots__ = ("bytes_in", "bytes_out", "messages_in", "messages_out", "recent", "truncate")

    def __init__(self, *, keep: int = 0, truncate: int = 200) -> None:
        self.messages_in = 0
        self.messages_out = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.recent: deque[tuple[bool, str | bytes]] | None = (
            deque(maxlen=keep) if keep > 0 else None
        )
        self.truncate = truncate

    def keep(self, outgoing: bool, data: str | bytes | bytearray | memoryview) -> None:
        """Add a message to ``recent`` (the WebSocket counts it itself, inline)."""
        if self.recent is not None:
            cut = data[: self.truncate]
            self.recent.append((outgoing, cut if isinstance(cut, str) else bytes(cut)))

    def sent(self, data: str | bytes | bytearray | memoryview) -> None:
        """A message was written by someone else than the WebSocket (a hub)."""
        self.messages_out += 1
        if self.recent is not None:
            self.keep(True, data)
