"""``ClientTimeout`` and the deadlines that enforce it.

A request's waits are of two kinds. Waits on the client's own futures (response head, body
bytes, write drain) arm one ``call_later`` that fails the future: no task is cancelled, so a
user's own cancellation is never confused with a timeout. Waits on coroutines the client does
not own (``create_connection``, a user's body generator) run under ``guard``, which cancels
the task and turns that cancellation into the timeout error.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from tidewire.protocol.stream import WaitLimit

from .exceptions import ConnectionTimeoutError, ServerTimeoutError, SocketTimeoutError


@dataclass(frozen=True)
class ClientTimeout:
    """The time budgets of a request, in seconds; ``None`` disables one.

    - ``total``: the whole request, from waiting for a connection to reading the
      last byte of the body; running out raises ``ServerTimeoutError``.
    - ``connect``: waiting for a pool slot plus opening the socket;
      ``ConnectionTimeoutError``.
    - ``sock_connect``: opening the socket (and TLS) only; ``ConnectionTimeoutError``.
    - ``sock_read``: the longest silence allowed while waiting for bytes from the
      server; ``SocketTimeoutError``.

    All three errors are ``ServerTimeoutError``s, and so ``asyncio.TimeoutError``s.
    Pass one to ``ClientSession(timeout=...)`` for every request, or to a request.
    """

    total: float | None = None
    connect: float | None = None
    sock_read: float | None = None
    sock_connect: float | None = None


REQUEST_TIMEOUT = ClientTimeout(total=300, sock_connect=30)
"""A session's default for its requests: five minutes in all, 30 s to open a socket."""

WS_HANDSHAKE_TIMEOUT = ClientTimeout(total=30.0)
"""``ws_connect``'s default for its opening handshake, from connecting to the 101."""


def _error(cls: type[ServerTimeoutError], message: str) -> Callable[[], BaseException]:
    return lambda: cls(message)


class Deadline:
    """The ``total`` budget of one request, shared by every wait the request makes."""

    __slots__ = ("_end", "_loop", "timeout")

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: ClientTimeout) -> None:
        self._loop = loop
        self.timeout = timeout
        self._end = None if timeout.total is None else loop.time() + timeout.total

    def limit(
        self, step: float | None, step_error: Callable[[], BaseException] | None = None
    ) -> WaitLimit | None:
        """The tighter of the remaining total budget and ``step``, with its error."""
        total_left = None if self._end is None else max(self._end - self._loop.time(), 0.0)
        if (
            step is not None
            and step_error is not None
            and (total_left is None or step < total_left)
        ):
            return step, step_error
        if total_left is None:
            return None
        return total_left, _error(
            ServerTimeoutError, f"Total timeout of {self.timeout.total} s exceeded"
        )

    def read_limit(self) -> WaitLimit | None:
        """The budget for one wait for bytes from the server."""
        sock_read = self.timeout.sock_read
        if sock_read is None:
            return self.limit(None)
        return self.limit(
            sock_read,
            _error(SocketTimeoutError, f"Timeout on reading data from socket ({sock_read} s)"),
        )

    def connect_limit(self, started: float) -> WaitLimit | None:
        """The budget for opening a socket, for a request that began acquiring at ``started``."""
        connect, sock_connect = self.timeout.connect, self.timeout.sock_connect
        step: WaitLimit | None = None
        if connect is not None:
            left = max(connect - (self._loop.time() - started), 0.0)
            step = left, _error(ConnectionTimeoutError, f"Connection timeout of {connect} s")
        if sock_connect is not None and (step is None or sock_connect < step[0]):
            step = (
                sock_connect,
                _error(ConnectionTimeoutError, f"Socket connect timeout of {sock_connect} s"),
            )
        return self.limit(*step) if step else self.limit(None)

    def acquire_limit(self) -> WaitLimit | None:
        """The budget for waiting on a free pool slot."""
        connect = self.timeout.connect
        if connect is None:
            return self.limit(None)
        return self.limit(
            connect, _error(ConnectionTimeoutError, f"Connection timeout of {connect} s")
        )


def arm(
    loop: asyncio.AbstractEventLoop,
    limit: WaitLimit | None,
    on_expiry: Callable[[BaseException], None],
) -> asyncio.TimerHandle | None:
    """Schedule ``on_expiry(error)`` after the limit's delay; the caller cancels the handle."""
    if limit is None:
        return None
    delay, make_error = limit
    return loop.call_later(delay, lambda: on_expiry(make_error()))


class guard:  # noqa: N801 - used like a function: ``with guard(limit):``
    """Cancel the current task when ``limit`` passes and raise its timeout error instead."""

    __slots__ = ("_error", "_handle", "_limit", "_task")

    def __init__(self, limit: WaitLimit | None) -> None:
        self._limit = limit
        self._handle: asyncio.TimerHandle | None = None
        self._error: BaseException | None = None

    def __enter__(self) -> None:
        if self._limit is not None:
            task = asyncio.current_task()
            assert task is not None, "guard is used inside a task"
            self._task = task
            self._handle = arm(task.get_loop(), self._limit, self._expire)

    def _expire(self, error: BaseException) -> None:
        self._error = error
        self._task.cancel()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
        if self._error is None or exc_type is not asyncio.CancelledError:
            return
        if sys.version_info >= (3, 11) and self._task.uncancel() > 0:
            return  # someone else cancelled the task too: let the cancellation win
        raise self._error from None
