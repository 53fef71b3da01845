"""picows' echo server at /ws: its frame callback sends each message straight back."""

from __future__ import annotations

import sys
from pathlib import Path

from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server

sys.path.insert(0, str(Path(__file__).parent))
from launch import run_server


class Echo(WSListener):  # type: ignore[misc]
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        elif kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
            transport.send(kind, frame.get_payload_as_memoryview())


def listener(request: WSUpgradeRequest) -> WSListener:
    return Echo()


async def serve(host: str, port: int) -> object:
    return await ws_create_server(
        listener, host, port, max_frame_size=64 * 1024 * 1024, backlog=4096
    )


if __name__ == "__main__":
    run_server(serve, "picows echo")
