"""What a type checker knows of a received message: ``data``'s type follows ``type``.

mypy runs on a small user program; if ``WSMessage.data`` went back to ``Any`` (or a
kind lost its ``Literal`` type), the revealed types below would change.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from tidewire.protocol import (
    WSMessage,
    WSMessageBinary,
    WSMessageClose,
    WSMessageClosed,
    WSMessageError,
    WSMessagePing,
    WSMessagePong,
    WSMessageText,
    WSMsgType,
)

api = pytest.importorskip("mypy.api")

PROGRAM = """
from tidewire.protocol import WebSocket, WSMessage, WSMsgType

async def handler(ws: WebSocket) -> None:
    msg = await ws.receive()
    if msg.type is WSMsgType.TEXT:
        reveal_type(msg.data)
    elif msg.type == WSMsgType.BINARY:
        reveal_type(msg.data)
    elif msg.type is WSMsgType.CLOSE:
        reveal_type(msg.data)
        reveal_type(msg.extra)
    elif msg.type is WSMsgType.ERROR:
        reveal_type(msg.data)
    if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
        reveal_type(msg.data)
    async for each in ws:
        match each.type:
            case WSMsgType.TEXT:
                reveal_type(each.data)
            case _:
                pass
    kind, data, extra = msg
    reveal_type(data)
    reveal_type(msg.json())
"""

REVEALED = [
    "str",
    "bytes",
    "int",
    "str",
    "Exception",
    "str | bytes",
    "str",
    "str | bytes | int | Exception | None",
    "Any",
]


def test_mypy_narrows_data_by_type(tmp_path: Path) -> None:
    program = tmp_path / "program.py"
    program.write_text(textwrap.dedent(PROGRAM))
    out, err, _ = api.run(
        [
            "--strict",
            "--no-error-summary",
            "--show-absolute-path",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(program),
        ]
    )
    # a union's members in any order; older mypy versions spell builtins in full
    revealed = [
        set(t.replace("builtins.", "").split(" | "))
        for t in re.findall(r'Revealed type is "([^"]*)"', out)
    ]
    assert revealed == [set(t.split(" | ")) for t in REVEALED], out + err
    assert "error:" not in out, out


def test_the_kinds_make_up_the_union_at_run_time() -> None:
    kinds = [
        WSMessageText(WSMsgType.TEXT, "t"),
        WSMessageBinary(WSMsgType.BINARY, b"b"),
        WSMessagePing(WSMsgType.PING, b""),
        WSMessagePong(WSMsgType.PONG, b""),
        WSMessageClose(WSMsgType.CLOSE, 1000, "bye"),
        WSMessageClosed(WSMsgType.CLOSED),
        WSMessageError(WSMsgType.ERROR, ValueError("x")),
    ]
    for msg in kinds:
        assert isinstance(msg, WSMessage)
        kind, data, extra = msg  # aiohttp's unpacking
        assert (kind, data, extra) == (msg.type, msg.data, msg.extra)
    assert kinds[0].json(loads=lambda s: [s]) == ["t"]
    assert WSMessageBinary(WSMsgType.BINARY, b'{"a": 1}').json() == {"a": 1}
    with pytest.raises(TypeError):
        kinds[4].json()  # a close code is not JSON, as in aiohttp
