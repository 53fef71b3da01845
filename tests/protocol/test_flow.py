"""``WriteFlowControl``: the pause flag and the wait every writer of a protocol shares."""

from __future__ import annotations

import asyncio

import pytest

from tidewire.protocol.flow import WriteFlowControl


class Writer(WriteFlowControl, asyncio.Protocol):
    __slots__ = ()


async def test_an_unpaused_writer_does_not_wait() -> None:
    writer = Writer()
    await writer._wait_writable()
    assert writer._drain_waiter is None  # nothing allocated while the peer keeps up


async def test_writers_wait_until_resumed() -> None:
    writer = Writer()
    writer.pause_writing()
    assert writer.writing_paused
    waits = [asyncio.ensure_future(writer._wait_writable()) for _ in range(2)]
    await asyncio.sleep(0)
    assert not any(wait.done() for wait in waits)
    writer.resume_writing()
    await asyncio.wait_for(asyncio.gather(*waits), 1)
    assert not writer.writing_paused


async def test_a_cancelled_writer_leaves_the_others_waiting() -> None:
    writer = Writer()
    writer.pause_writing()
    first = asyncio.ensure_future(writer._wait_writable())
    second = asyncio.ensure_future(writer._wait_writable())
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    assert first.cancelled() and not second.done()
    writer.resume_writing()
    await asyncio.wait_for(second, 1)


async def test_waking_with_an_error_raises_it_in_every_writer() -> None:
    writer = Writer()
    writer.pause_writing()
    waits = [asyncio.ensure_future(writer._wait_writable()) for _ in range(2)]
    await asyncio.sleep(0)
    writer._wake_writers(ConnectionResetError("lost"))
    for wait in waits:
        with pytest.raises(ConnectionResetError, match="lost"):
            await wait
    assert writer.writing_paused  # still paused: the protocol decides what comes next


def test_the_mixin_keeps_a_slotted_protocol_slotted() -> None:
    assert not hasattr(Writer(), "__dict__")
