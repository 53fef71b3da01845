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


class BodySource(FlowControl, Protocol):
    """What a request body needs of the connection it arrives on (``HTTPProtocol``):
    stop and restart reading the socket, and send ``100 Continue``."""

    def send_continue(self) -> None:
        """Tell a client waiting on ``Expect: 100-continue`` to send the body."""


class StreamReader(BodyStream):
    """A request body as it arrives: ``request.content`` (aiohttp's name and methods).

    Read it with ``await read(n)`` (all of it when ``n`` is -1), ``readany()``,
    ``readexactly(n)``, ``readline()``, or ``async for`` over lines or ``iter_chunked(n)``;
    ``at_eof()`` tells whether it is used up. A body larger than the application's
    ``client_max_size`` makes the reads raise ``HTTPRequestEntityTooLarge``; a body the
    client cuts short raises ``HTTPBadRequest``, and a lost connection
    ``ConnectionResetError``. The server creates these; handlers only read them.
    """

    __slots__ = ("_continue_to",)

    def __init__(
        self,
        connection: BodySource | None = None,
        *,
        high_water: int = DEFAULT_HIGH_WATER,
        expect_continue: bool = False,
        eof: bool = False,
    ) -> None:
        """A body fed by ``connection``, which stops reading the socket while more than
        ``high_water`` bytes wait unread (and resumes at half of it). With
        ``expect_continue`` the first wait for bytes sends ``100 Continue``; ``eof``
        makes a body that is empty and complete from the start."""
        super().__init__(connection, high_water=high_water, low_water=high_water // 2, eof=eof)
        self._continue_to = connection if expect_continue else None

    def _before_wait(self) -> None:
        connection = self._continue_to
        if connection is not None:
            self._continue_to = None
            connection.send_continue()


EMPTY_STREAM = StreamReader(eof=True)
"""Shared by every request without a body: reading it returns ``b""`` at once."""
