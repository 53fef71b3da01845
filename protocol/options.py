"""``WebSocketOptions``: the settings of one WebSocket, as one value.

The server's ``WebSocketResponse(...)`` and the client's ``ws_connect(...)`` take these
settings as keyword arguments, as aiohttp's do; each builds one ``WebSocketOptions`` and
hands it to the shared ``WebSocket``, so a setting is named, defaulted and checked in
one place. The value is frozen: an application may build one and share it among all
its connections, which then hold a reference rather than seven fields each.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

__all__ = ["DEFAULT_MAX_MSG_SIZE", "WebSocketOptions", "shared_options"]

DEFAULT_MAX_MSG_SIZE = 4 * 1024 * 1024
"""4 MiB, aiohttp's default: a message past it is refused with close code 1009."""


@dataclass(frozen=True)
class WebSocketOptions:
    """How one WebSocket receives, answers and closes, whichever side opened it.

    - ``max_msg_size``: the largest message accepted, in bytes after inflation; a
      larger one fails the connection with 1009 as soon as its length is known. ``0``
      means no limit.
    - ``compress_threshold``: with permessage-deflate agreed, messages shorter than
      this many bytes go uncompressed (deflating a few bytes makes them longer).
    - ``heartbeat``: seconds of silence from the peer before we ping it; no pong
      within half of that fails the connection (``WebSocketTimeoutError``, 1006).
      ``None`` sends no pings.
    - ``autoping``: answer pings with pongs ourselves and keep both out of
      ``receive()``; with ``False`` the application sees PING and PONG messages and
      answers pings itself.
    - ``receive_timeout``: the default timeout of every ``receive()``, in seconds
      (``None``: wait for ever); a timeout raises ``asyncio.TimeoutError`` and leaves
      the connection open.
    - ``close_timeout``: how long ``close()`` waits for the peer's close frame and then
      for the TCP close, and how long a peer's close waits for an application that
      stopped reading, before the socket is dropped.
    - ``max_queue``: received messages waiting for the application; at this many,
      reading from the socket pauses until half of them are taken, so a slow reader
      holds the peer back instead of our memory growing.

    Raises ``ValueError`` for a negative size, a heartbeat or timeout that is not
    positive, or a ``max_queue`` under 1.
    """

    max_msg_size: int = DEFAULT_MAX_MSG_SIZE
    compress_threshold: int = 64
    heartbeat: float | None = None
    autoping: bool = True
    receive_timeout: float | None = None
    close_timeout: float = 10.0
    max_queue: int = 16

    def __post_init__(self) -> None:
        if self.max_msg_size < 0:
            raise ValueError(f"max_msg_size must be 0 (no limit) or more, not {self.max_msg_size}")
        if self.compress_threshold < 0:
            raise ValueError(f"compress_threshold must be 0 or more, not {self.compress_threshold}")
        for name in ("heartbeat", "receive_timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be None or positive, not {value}")
        if self.close_timeout <= 0:
            raise ValueError(f"close_timeout must be positive, not {self.close_timeout}")
        if self.max_queue < 1:
            raise ValueError(f"max_queue must be 1 or more, not {self.max_queue}")


@functools.lru_cache(maxsize=64)
def shared_options(
    *,
    max_msg_size: int,
    compress_threshold: int,
    heartbeat: float | None,
    autoping: bool,
    receive_timeout: float | None,
    close_timeout: float,
    max_queue: int,
) -> WebSocketOptions:
    """The one ``WebSocketOptions`` for these settings, built and checked once.

    ``WebSocketResponse(...)`` and ``ws_connect(...)`` take the settings per connection,
    nearly always the same ones; checking them again each time cost a handshake about a
    microsecond, and sharing the value lets connections hold one reference. Raises
    ``ValueError`` as ``WebSocketOptions`` does (an error is not cached)."""
    return WebSocketOptions(
        max_msg_size=max_msg_size,
        compress_threshold=compress_threshold,
        heartbeat=heartbeat,
        autoping=autoping,
        receive_timeout=receive_timeout,
        close_timeout=close_timeout,
        max_queue=max_queue,
    )
