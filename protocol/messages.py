"""The messages a WebSocket hands to users, with aiohttp's names and values."""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Any, NamedTuple


class WSMsgType(IntEnum):
    """What a ``WSMessage`` carries: the data opcodes plus the local close states."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA
    CLOSING = 0x100
    CLOSED = 0x101
    ERROR = 0x102


class WSMessage(NamedTuple):
    """One received message: ``data`` is str for TEXT, bytes for BINARY/PING/PONG,
    the close code for CLOSE and the exception for ERROR; ``extra`` is the close reason."""

    type: WSMsgType
    data: Any
    extra: str | None = None

    def json(self, *, loads: Any = json.loads) -> Any:
        """Decode a TEXT or BINARY message as JSON."""
        return loads(self.data)


CLOSED_MESSAGE = WSMessage(WSMsgType.CLOSED, None, None)
CLOSING_MESSAGE = WSMessage(WSMsgType.CLOSING, None, None)
