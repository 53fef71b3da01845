"""``WebSocketOptions``: one value both sides build from their keyword arguments."""

from __future__ import annotations

import dataclasses

import pytest

from tidewire.client import ClientSession
from tidewire.protocol.options import WebSocketOptions
from tidewire.server import WebSocketResponse


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_msg_size", -1),
        ("compress_threshold", -1),
        ("heartbeat", 0),
        ("receive_timeout", -0.5),
        ("close_timeout", 0),
        ("max_queue", 0),
    ],
)
def test_a_bad_setting_raises_where_it_is_given(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        WebSocketOptions(**{field: value})
    server_name = "timeout" if field == "close_timeout" else field
    with pytest.raises(ValueError, match=field):
        WebSocketResponse(**{server_name: value})


async def test_ws_connect_refuses_a_bad_setting_before_connecting() -> None:
    async with ClientSession() as session:
        with pytest.raises(ValueError, match="max_queue"):
            # nothing listens there: the error must come before any connection attempt
            session.ws_connect("ws://127.0.0.1:9/ws", max_queue=0)


def test_options_are_frozen_so_connections_can_share_them() -> None:
    options = WebSocketOptions(heartbeat=30)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.heartbeat = 5  # type: ignore[misc]
    assert WebSocketOptions() == WebSocketOptions(max_msg_size=4 * 1024 * 1024)
