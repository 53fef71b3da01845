"""The shared body stream (``request.content`` / ``response.content``) on its own, no HTTP."""

from __future__ import annotations

import asyncio

import pytest

from tidewire.protocol.stream import BodyStream, WaitLimit


class Flow:
    """Records what the stream asks of its connection."""

    def __init__(self) -> None:
        self.log: list[str] = []

    def pause_reading(self) -> None:
        self.log.append("pause")

    def resume_reading(self) -> None:
        self.log.append("resume")


def fed(*chunks: bytes, eof: bool = True) -> BodyStream:
    stream = BodyStream()
    for chunk in chunks:
        stream.feed_data(chunk)
    if eof:
        stream.feed_eof()
    return stream


def feed_soon(stream: BodyStream, *steps: bytes | BaseException | None) -> asyncio.Task[None]:
    """Feed each step after a loop iteration: bytes, an exception, or ``None`` for eof."""

    async def run() -> None:
        for step in steps:
            await asyncio.sleep(0)
            if step is None:
                stream.feed_eof()
            elif isinstance(step, BaseException):
                stream.set_exception(step)
            else:
                stream.feed_data(step)

    return asyncio.create_task(run())


# -- reading -------------------------------------------------------------------------


async def test_read_all_waits_for_eof_and_joins() -> None:
    stream = BodyStream()
    task = feed_soon(stream, b"ab", b"cd", b"ef", None)
    assert await stream.read() == b"abcdef"
    assert stream.at_eof()
    assert await stream.read() == b""
    await task


async def test_read_all_of_one_chunk_hands_out_that_chunk() -> None:
    chunk = b"x" * 1000
    assert await fed(chunk).read() is chunk


async def test_read_n_takes_up_to_n_across_chunks() -> None:
    stream = fed(b"abc", b"def", b"gh")
    assert await stream.read(2) == b"ab"
    assert await stream.read(3) == b"cde"
    assert await stream.read(100) == b"fgh"
    assert await stream.read(1) == b""
    assert await stream.read(0) == b""


async def test_read_n_of_a_whole_chunk_is_zero_copy() -> None:
    first, second = b"a" * 10, b"b" * 10
    stream = fed(first, second)
    assert await stream.read(10) is first
    assert await stream.readany() is second


async def test_read_n_waits_for_the_first_byte_only() -> None:
    stream = BodyStream()
    task = feed_soon(stream, b"12")
    assert await stream.read(5) == b"12"
    await task


async def test_read_zero_and_all_after_partial_read() -> None:
    stream = fed(b"hello", b" world")
    assert await stream.read(0) == b""
    assert await stream.read(2) == b"he"
    assert await stream.read() == b"llo world"


async def test_readany_gives_pieces_as_they_arrived() -> None:
    stream = fed(b"abc", b"de")
    assert await stream.read(1) == b"a"
    assert await stream.readany() == b"bc"
    assert await stream.readany() == b"de"
    assert await stream.readany() == b""


async def test_readexactly_across_chunks_and_waits() -> None:
    stream = BodyStream()
    task = feed_soon(stream, b"ab", b"cdef", b"g", None)
    assert await stream.readexactly(3) == b"abc"
    assert await stream.readexactly(0) == b""
    assert await stream.readexactly(4) == b"defg"
    await task


async def test_readexactly_short_body_raises_with_the_partial_bytes() -> None:
    stream = fed(b"ab", b"c")
    with pytest.raises(asyncio.IncompleteReadError) as caught:
        await stream.readexactly(5)
    assert caught.value.partial == b"abc"
    assert caught.value.expected == 5
    assert stream.at_eof()


async def test_readline_splits_within_and_across_chunks() -> None:
    stream = fed(b"one\ntw", b"o", b"\nthree\nfo", b"ur")
    assert await stream.readline() == b"one\n"
    assert await stream.readline() == b"two\n"
    assert await stream.readline() == b"three\n"
    assert await stream.readline() == b"four"
    assert await stream.readline() == b""


async def test_readline_waits_for_the_newline() -> None:
    stream = BodyStream()
    task = feed_soon(stream, b"par", b"tial\nrest", None)
    assert await stream.readline() == b"partial\n"
    assert await stream.read() == b"rest"
    await task


async def test_async_for_iterates_lines() -> None:
    stream = fed(b"a\nb", b"\n\nc")
    assert [line async for line in stream] == [b"a\n", b"b\n", b"\n", b"c"]


async def test_iter_chunked_and_iter_any() -> None:
    stream = fed(b"x" * 10, b"y" * 5)
    assert [len(c) async for c in stream.iter_chunked(4)] == [4, 4, 4, 3]
    stream = fed(b"ab", b"cde", b"f")
    assert [c async for c in stream.iter_any()] == [b"ab", b"cde", b"f"]


async def test_read_bounded_leaves_the_rest() -> None:
    stream = fed(b"abc", b"defg")
    assert await stream.read_bounded(5) == b"abcde"
    assert await stream.read() == b"fg"


async def test_empty_data_is_ignored() -> None:
    stream = BodyStream()
    stream.feed_data(b"")
    assert not stream.at_eof()
    stream.feed_eof()
    assert stream.at_eof()


# -- eof and errors ------------------------------------------------------------------


async def test_eof_states() -> None:
    stream = fed(b"ab", eof=False)
    assert not stream.is_eof() and not stream.at_eof()
    stream.feed_eof()
    assert stream.is_eof() and not stream.at_eof()
    assert await stream.read(2) == b"ab"
    assert stream.at_eof()
    assert BodyStream(eof=True).at_eof()


async def test_exception_reaches_a_waiting_reader() -> None:
    stream = BodyStream()
    error = ConnectionResetError("gone")
    task = feed_soon(stream, b"ab", error)
    assert await stream.read(10) == b"ab"
    with pytest.raises(ConnectionResetError) as caught:
        await stream.read(10)
    assert caught.value is error
    assert stream.exception() is error
    await task


async def test_buffered_bytes_are_read_before_the_exception() -> None:
    stream = fed(b"line\n", eof=False)
    error = ValueError("bad chunk")
    stream.set_exception(error)
    assert await stream.readline() == b"line\n"
    with pytest.raises(ValueError):
        await stream.readline()
    with pytest.raises(ValueError):
        await stream.readany()


async def test_one_waiter_created_only_when_waiting() -> None:
    stream = fed(b"abc", eof=False)
    assert await stream.read(1) == b"a"
    assert stream._waiter is None
    reader = asyncio.create_task(stream.read())
    await asyncio.sleep(0)
    assert stream._waiter is not None
    stream.feed_data(b"d")
    assert stream._waiter is None  # woken and forgotten at once
    stream.feed_eof()
    assert await reader == b"bcd"


async def test_a_cancelled_reader_leaves_no_waiter() -> None:
    stream = BodyStream()
    reader = asyncio.create_task(stream.read(1))
    await asyncio.sleep(0)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert stream._waiter is None
    stream.feed_data(b"z")
    assert await stream.read(1) == b"z"


# -- flow control --------------------------------------------------------------------


async def test_pause_above_high_water_and_resume_at_low_water() -> None:
    flow = Flow()
    stream = BodyStream(flow, high_water=100, low_water=40)
    stream.feed_data(b"a" * 60)
    stream.feed_data(b"b" * 40)
    assert flow.log == [] and not stream.holds_back  # exactly at the mark: still reading
    stream.feed_data(b"c" * 10)
    assert flow.log == ["pause"] and stream.holds_back
    stream.feed_data(b"d" * 10)
    assert flow.log == ["pause"]  # paused once
    assert len(await stream.read(60)) == 60  # 60 left
    assert flow.log == ["pause"]
    assert len(await stream.read(20)) == 20  # 40 left: at the low-water mark
    assert flow.log == ["pause", "resume"] and not stream.holds_back
    stream.feed_data(b"e" * 61)
    assert flow.log == ["pause", "resume", "pause"]


async def test_default_low_water_is_a_quarter_of_high_water() -> None:
    flow = Flow()
    stream = BodyStream(flow, high_water=400)
    stream.feed_data(b"a" * 401)
    assert await stream.readexactly(300) == b"a" * 300
    assert flow.log == ["pause"]
    await stream.read(1)
    assert flow.log == ["pause", "resume"]


async def test_without_flow_control_nothing_holds_back() -> None:
    stream = BodyStream(high_water=1)
    stream.feed_data(b"abc")
    assert not stream.holds_back


async def read_110(stream: BodyStream, how: str) -> bytes:
    if how == "readexactly":
        return await stream.readexactly(110)
    if how == "readline":
        return await stream.readline()
    return await stream.read()


@pytest.mark.parametrize("how", ["readexactly", "readline", "read"])
async def test_reads_larger_than_high_water_do_not_stall(how: str) -> None:
    """The reader takes bytes as they come, so the paused connection is resumed."""
    flow = Flow()
    stream = BodyStream(flow, high_water=10, low_water=0)

    async def connection() -> None:
        for i in range(10):
            while flow.log and flow.log[-1] == "pause":
                await asyncio.sleep(0)
            stream.feed_data(b"0123456789" + (b"\n" if i == 9 else b"-"))  # above high water
        stream.feed_eof()

    task = asyncio.create_task(connection())
    data = await asyncio.wait_for(read_110(stream, how), 5)
    assert len(data) == 110 and data.startswith(b"0123456789")
    await task
    assert flow.log[:2] == ["pause", "resume"]


# -- hooks -----------------------------------------------------------------------------


class Continued(BodyStream):
    __slots__ = ("waits",)

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    def _before_wait(self) -> None:
        self.waits += 1


async def test_before_wait_runs_only_when_the_reader_must_wait() -> None:
    stream = Continued()
    stream.feed_data(b"ab")
    assert await stream.read(2) == b"ab"
    assert stream.waits == 0
    task = feed_soon(stream, b"c", b"d", None)
    assert await stream.read() == b"cd"
    assert stream.waits >= 1
    await task


class Bounded(BodyStream):
    __slots__ = ("delay", "expired")

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.expired: list[BaseException] = []

    def _wait_limit(self) -> WaitLimit | None:
        return self.delay, lambda: TimeoutError(f"no bytes within {self.delay} s")

    def _timed_out(self, error: BaseException) -> None:
        self.expired.append(error)
        super()._timed_out(error)


async def test_a_bounded_wait_fails_the_stream_when_it_passes() -> None:
    stream = Bounded(0.01)
    stream.feed_data(b"ab")
    assert await stream.read(2) == b"ab"  # buffered: no wait, no timer
    assert stream.expired == []
    with pytest.raises(TimeoutError, match="no bytes within"):
        await stream.read()
    assert len(stream.expired) == 1
    assert isinstance(stream.exception(), TimeoutError)
    with pytest.raises(TimeoutError):
        await stream.readany()  # the stream stays failed


async def test_a_bounded_wait_met_in_time_cancels_its_timer() -> None:
    stream = Bounded(0.05)
    task = feed_soon(stream, b"a", b"b", None)
    assert await stream.read() == b"ab"
    await task
    await asyncio.sleep(0.1)
    assert stream.expired == []
    assert stream.exception() is None
