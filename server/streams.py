"""The request body as a stream: what ``request.content`` is.

The reading itself is ``tidewire.protocol.stream``; the server adds ``100 Continue``: a
client that sent ``Expect: 100-continue`` gets it once, when the handler first waits for
body bytes. The connection feeds the stream as llhttp hands out body bytes and stops
reading the socket while more than ``high_water`` bytes wait unread.
"""

from __future__ import annotations

from typing import Protocol

from tidewire.protocol.stream import DEFAULT_HIGH_WATER, BodyStream, FlowControl

__all__ = ["EMPTY_STREAM", "StreamReader"]


class Connection(FlowControl, Protocol):
    """What the request body needs of its connection."""

    def send_continue(self) -> None: ...


class StreamReader(BodyStream):
    """A request body: ``read(n)``, ``readany``, ``readline``, ``iter_chunked``, lines."""

    __slots__ = ("_continue_to",)

    def __init__(
        self,
        connection: Connection | None = None,
        *,
        high_water: int = DEFAULT_HIGH_WATER,
        expect_continue: bool = False,
        eof: bool = False,
    ) -> None:
        super().__init__(connection, high_water=high_water, low_water=high_water // 2, eof=eof)
        self._continue_to = connection if expect_continue else None

    def _before_wait(self) -> None:
        connection = self._continue_to
        if connection is not None:
            self._continue_to = None
            connection.send_continue()


EMPTY_STREAM = StreamReader(eof=True)
"""Shared by every request without a body: reading it returns ``b""`` at once."""
