"""Write flow control: the one implementation of ``pause_writing``/``resume_writing``.

asyncio tells a protocol to stop writing when its transport's buffer passes the high-water
mark (``pause_writing``) and to go on once it has drained below the low-water mark
(``resume_writing``). A protocol that writes on behalf of user code (a response body, a
request body, a WebSocket message) mixes ``WriteFlowControl`` in: its writers read the
``writing_paused`` flag after each write, a plain attribute load, and only while it is set
await ``_wait_writable()``. Nothing is allocated while the peer keeps up; a pause costs one
Future, shared by every writer waiting on it.

What a writer does when the connection was lost while it waited is each protocol's own
decision: the wait ends (``connection_lost`` calls ``resume_writing`` or ``_wake_writers``)
and the protocol raises the error its users expect.
"""

from __future__ import annotations

import asyncio

__all__ = ["WriteFlowControl"]


class WriteFlowControl:
    """A mix-in for an ``asyncio`` protocol: the pause flag and the wait for resumption.

    Put it before the asyncio base class (``class P(WriteFlowControl, asyncio.Protocol)``)
    and call ``WriteFlowControl.__init__(self)`` from the protocol's ``__init__``. It
    keeps two slots, so a class using it may have ``__slots__`` (asyncio's protocol bases
    have empty ones) but may not mix in a second class with slots of its own.
    """

    __slots__ = ("_drain_waiter", "writing_paused")

    def __init__(self) -> None:
        """Start unpaused, with no writer waiting."""
        self.writing_paused = False
        """True from ``pause_writing`` until ``resume_writing``: a writer that finds it
        set awaits ``_wait_writable()`` before writing more."""
        self._drain_waiter: asyncio.Future[None] | None = None

    def pause_writing(self) -> None:
        """asyncio: the transport's write buffer passed its high-water mark."""
        self.writing_paused = True

    def resume_writing(self) -> None:
        """asyncio: the write buffer drained below its low-water mark; wakes the writers."""
        self.writing_paused = False
        self._wake_writers()

    def _wake_writers(self, error: BaseException | None = None) -> None:
        """End the current wait of every writer: normally, or raising ``error`` in each
        (a lost connection, a deadline). Writing may still be paused afterwards."""
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)

    async def _wait_writable(self) -> None:
        """Wait, if writing is paused, until ``resume_writing`` or ``_wake_writers``.

        Raises what ``_wake_writers`` was given. Several writers may wait at once on the
        same Future; cancelling one of them leaves the others waiting.
        """
        if not self.writing_paused:
            return
        waiter = self._drain_waiter
        if waiter is None:
            waiter = self._drain_waiter = asyncio.get_running_loop().create_future()
        await asyncio.shield(waiter)
