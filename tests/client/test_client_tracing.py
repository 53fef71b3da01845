"""Client tracing: aiohttp's ``TraceConfig`` signals, in order, on real requests to
tidewire's own server."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import FrameType, SimpleNamespace
from typing import Any

import pytest
from client_servers import aiohttp_server
from yarl import URL

import tidewire.client as tw
from tidewire.client import ClientConnectorError, ClientSession, TCPConnector, TraceConfig
from tidewire.server.testing import unused_port

tracing_module = importlib.import_module("tidewire.client.tracing")

SIGNALS = [
    "on_request_start",
    "on_request_end",
    "on_request_exception",
    "on_request_redirect",
    "on_request_headers_sent",
    "on_request_chunk_sent",
    "on_response_chunk_received",
    "on_connection_queued_start",
    "on_connection_queued_end",
    "on_connection_create_start",
    "on_connection_create_end",
    "on_connection_reuseconn",
    "on_dns_resolvehost_start",
    "on_dns_resolvehost_end",
    "on_dns_cache_hit",
    "on_dns_cache_miss",
]


class Recorder:
    """A TraceConfig whose every signal appends (name, params) to ``events``."""

    def __init__(self) -> None:
        self.config = TraceConfig()
        self.events: list[tuple[str, Any]] = []
        self.contexts: list[SimpleNamespace] = []
        self.sessions: list[Any] = []
        for name in SIGNALS:
            getattr(self.config, name).append(self._receiver(name))

    def _receiver(self, name: str) -> Any:
        async def receive(session: Any, context: SimpleNamespace, params: Any) -> None:
            self.events.append((name, params))
            self.contexts.append(context)
            self.sessions.append(session)

        return receive

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def take(self) -> list[tuple[str, Any]]:
        events, self.events = self.events, []
        self.contexts.clear()
        return events


@pytest.fixture
async def target() -> AsyncIterator[URL]:
    async with aiohttp_server(web=importlib.import_module("tidewire.server")) as url:
        yield url


async def test_a_request_create_then_reuse(target: URL) -> None:
    recorder = Recorder()
    async with ClientSession(trace_configs=[recorder.config]) as session:
        response = await session.post(target / "echo", data=b"hello", headers={"X-A": "1"})
        assert (await response.json())["body"] == "hello"
        assert recorder.names() == [
            "on_request_start",
            "on_connection_create_start",
            "on_connection_create_end",
            "on_request_headers_sent",
            "on_request_chunk_sent",
            "on_request_end",
            "on_response_chunk_received",
        ]
        events = dict(recorder.events)
        start = events["on_request_start"]
        assert isinstance(start, tw.TraceRequestStartParams)
        assert (start.method, start.url, start.headers["X-A"]) == ("POST", target / "echo", "1")
        assert isinstance(events["on_connection_create_start"], tw.TraceConnectionCreateStartParams)
        assert isinstance(events["on_connection_create_end"], tw.TraceConnectionCreateEndParams)
        sent = events["on_request_headers_sent"]
        assert isinstance(sent, tw.TraceRequestHeadersSentParams)
        assert sent.headers["Content-Length"] == "5" and sent.headers["Host"] == target.authority
        chunk = events["on_request_chunk_sent"]
        assert isinstance(chunk, tw.TraceRequestChunkSentParams) and chunk.chunk == b"hello"
        end = events["on_request_end"]
        assert isinstance(end, tw.TraceRequestEndParams)
        assert end.response is response and end.method == "POST"
        received = events["on_response_chunk_received"]
        assert isinstance(received, tw.TraceResponseChunkReceivedParams)
        assert received.chunk == await response.read() and received.url == target / "echo"
        assert all(s is session for s in recorder.sessions)
        # one context per request, shared by all of its callbacks
        assert len({id(context) for context in recorder.contexts}) == 1

        recorder.take()
        await (await session.get(target / "hello")).read()
        assert recorder.names() == [
            "on_request_start",
            "on_connection_reuseconn",  # the pooled connection, not a new one
            "on_request_headers_sent",
            "on_request_end",
            "on_response_chunk_received",
        ]
        assert isinstance(
            dict(recorder.events)["on_connection_reuseconn"], tw.TraceConnectionReuseconnParams
        )


async def test_a_redirect(target: URL) -> None:
    recorder = Recorder()
    async with ClientSession(trace_configs=[recorder.config]) as session:
        url = target / "redirect/302" % {"to": "/echo"}
        response = await session.get(url)
        await response.read()
    assert recorder.names() == [
        "on_request_start",
        "on_connection_create_start",
        "on_connection_create_end",
        "on_request_headers_sent",
        "on_request_redirect",
        "on_connection_reuseconn",  # the 302's body was read: its connection goes on
        "on_request_headers_sent",
        "on_request_end",
        "on_response_chunk_received",  # the final body only, not the 302's
    ]
    events = recorder.events
    redirect = events[4][1]
    assert isinstance(redirect, tw.TraceRequestRedirectParams)
    assert redirect.response.status == 302 and redirect.url == url
    assert redirect.response is response.history[0]
    assert events[6][1].url == target / "echo"  # the second request's headers
    end = events[7][1]
    assert end.response is response and end.url == url  # aiohttp's: the URL first asked


async def test_an_exception() -> None:
    recorder = Recorder()
    url = URL(f"http://127.0.0.1:{unused_port()}/nothing")
    async with ClientSession(trace_configs=[recorder.config]) as session:
        with pytest.raises(ClientConnectorError) as caught:
            await session.get(url)
    assert recorder.names() == [
        "on_request_start",
        "on_connection_create_start",
        "on_request_exception",
    ]
    failed = recorder.events[-1][1]
    assert isinstance(failed, tw.TraceRequestExceptionParams)
    assert failed.exception is caught.value and failed.url == url and failed.method == "GET"


async def test_queued_for_a_pool_slot(target: URL) -> None:
    recorder = Recorder()
    connector = TCPConnector(limit=1)
    async with ClientSession(connector=connector, trace_configs=[recorder.config]) as session:
        # 1 MiB: more than the stream buffers before it stops reading the socket, so the
        # body is not complete (nor the slot free) until it is read
        first = await session.get(target / "big")
        recorder.take()
        second = asyncio.create_task(session.get(target / "hello"))
        for _ in range(100):
            if len(recorder.names()) >= 2:
                break
            await asyncio.sleep(0.01)
        assert recorder.names() == ["on_request_start", "on_connection_queued_start"]
        await first.read()
        await (await second).read()
    assert [name for name in recorder.names() if "connection" in name] == [
        "on_connection_queued_start",
        "on_connection_queued_end",
        "on_connection_reuseconn",  # the first request's connection, handed on
    ]
    params = dict(recorder.events)
    assert isinstance(params["on_connection_queued_start"], tw.TraceConnectionQueuedStartParams)
    assert isinstance(params["on_connection_queued_end"], tw.TraceConnectionQueuedEndParams)


async def test_a_streamed_body_reports_each_chunk(target: URL) -> None:
    recorder = Recorder()

    async def body() -> AsyncIterator[bytes]:
        for piece in (b"one", b"two", b"three"):
            yield piece

    async with ClientSession(trace_configs=[recorder.config]) as session:
        response = await session.post(target / "upload", data=body())
        assert (await response.json())["size"] == 11
    chunks = [params.chunk for name, params in recorder.events if name == "on_request_chunk_sent"]
    assert chunks == [b"one", b"two", b"three"]


async def test_trace_request_ctx_and_context_factory(target: URL) -> None:
    class Context(SimpleNamespace):
        pass

    seen: list[tuple[str, Any]] = []
    config = TraceConfig(trace_config_ctx_factory=Context)

    async def on_start(session: Any, context: SimpleNamespace, params: Any) -> None:
        context.started = params.url
        seen.append(("start", context))

    async def on_end(session: Any, context: SimpleNamespace, params: Any) -> None:
        seen.append(("end", context))

    config.on_request_start.append(on_start)
    config.on_request_end.append(on_end)
    async with ClientSession(trace_configs=[config]) as session:
        await (await session.get(target / "hello", trace_request_ctx={"span": 7})).read()
        await (await session.get(target / "hello")).read()
    (_, first), (_, first_end), (_, second), _ = seen
    assert isinstance(first, Context) and first is first_end  # shared within a request
    assert first.trace_request_ctx == {"span": 7} and first.started == target / "hello"
    assert second is not first and second.trace_request_ctx is None


async def test_configs_are_frozen_by_the_session() -> None:
    config = TraceConfig()

    async def receiver(session: Any, context: SimpleNamespace, params: Any) -> None:
        pass

    config.on_request_start.append(receiver)
    assert not config.on_request_start.frozen
    async with ClientSession(trace_configs=[config]) as session:
        assert session.trace_configs == (config,)
        assert config.on_request_start.frozen and config.on_dns_cache_hit.frozen
        with pytest.raises(RuntimeError, match="frozen"):
            config.on_request_end.append(receiver)
        with pytest.raises(RuntimeError, match="frozen"):
            config.on_request_start.remove(receiver)
    assert list(config.on_request_start) == [receiver] and len(config.on_request_start) == 1


async def test_several_configs_in_order(target: URL) -> None:
    order: list[str] = []

    def config_named(name: str) -> TraceConfig:
        config = TraceConfig()

        async def on_end(session: Any, context: SimpleNamespace, params: Any) -> None:
            order.append(name)

        config.on_request_end.append(on_end)
        return config

    configs = [config_named("a"), config_named("b")]
    async with ClientSession(trace_configs=configs) as session:
        await (await session.get(target / "hello")).read()
    assert order == ["a", "b"]


async def test_a_failing_callback_fails_the_request_and_frees_the_slot(target: URL) -> None:
    config = TraceConfig()

    async def broken(session: Any, context: SimpleNamespace, params: Any) -> None:
        raise LookupError("instrumentation bug")

    config.on_connection_create_end.append(broken)
    async with ClientSession(trace_configs=[config]) as session:
        with pytest.raises(LookupError):
            await session.get(target / "hello")
        assert session.connector.in_use == 0 and session.connector.idle == 0


async def test_no_trace_configs_run_no_tracing_code(target: URL) -> None:
    """Without trace configs a request takes the untraced path: no ``Trace``, no
    parameter object, no call into the tracing module (checked with a profiler hook
    that sees every Python call while the requests run)."""
    tracing_file = str(Path(tracing_module.__file__).resolve())
    calls: list[str] = []

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event != "call":
            return
        owner = frame.f_locals.get("self")
        in_tracing = str(Path(frame.f_code.co_filename).resolve()) == tracing_file
        if in_tracing or type(owner).__module__ == tracing_module.__name__:
            calls.append(frame.f_code.co_name)

    async with ClientSession() as session:
        request = session.get(target / "echo")
        assert request._coro.cr_code.co_name == "_request"  # not the traced wrapper
        await (await request).read()  # the first opens the connection
        sys.setprofile(profile)
        try:
            for _ in range(3):
                await (await session.post(target / "echo", data=b"x")).read()
        finally:
            sys.setprofile(None)
        assert session.trace_configs == ()
    assert calls == []
