"""Client tracing: aiohttp's ``TraceConfig``, its signals and their parameter objects.

A ``TraceConfig`` holds the callbacks; ``ClientSession(trace_configs=[...])`` freezes
them and, for each request, makes one ``Trace`` per config with a fresh context object
(``trace_config_ctx``), which every callback of that request receives: that is where
instrumentation keeps its span between ``on_request_start`` and ``on_request_end``.

A session without trace configs makes no ``Trace`` and no parameter object: its requests
carry the empty ``NO_TRACES`` and every emitting site is behind ``if traces:``.

There is no DNS cache or separate resolver step in tidewire (names are resolved inside
``loop.create_connection``), so the ``on_dns_*`` signals exist, for code that connects
to them, and never fire.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from multidict import CIMultiDict
from yarl import URL

if TYPE_CHECKING:
    from .response import ClientResponse

P = TypeVar("P")
TraceCallback = Callable[[Any, SimpleNamespace, P], Awaitable[object]]
"""A signal's receiver: ``async def cb(session, trace_config_ctx, params)``."""


class TraceSignal(Generic[P]):
    """The receivers of one trace event, called in order with ``(session,
    trace_config_ctx, params)``; ``append`` them before the config is frozen (a
    session freezes its configs), after which a change raises ``RuntimeError``."""

    __slots__ = ("_frozen", "_receivers")

    def __init__(self) -> None:
        self._receivers: list[TraceCallback[P]] = []
        self._frozen = False

    @property
    def frozen(self) -> bool:
        """Whether receivers can no longer be added or removed."""
        return self._frozen

    def freeze(self) -> None:
        """Fix the receivers (a session does it to the configs it is given)."""
        self._frozen = True

    def _check(self) -> None:
        if self._frozen:
            raise RuntimeError("Cannot modify a frozen trace signal")

    def append(self, receiver: TraceCallback[P]) -> None:
        """Add a receiver after the others."""
        self._check()
        self._receivers.append(receiver)

    def extend(self, receivers: Iterable[TraceCallback[P]]) -> None:
        """Add receivers after the others, in order."""
        self._check()
        self._receivers.extend(receivers)

    def remove(self, receiver: TraceCallback[P]) -> None:
        """Take a receiver out (``ValueError`` if it is not there)."""
        self._check()
        self._receivers.remove(receiver)

    def __iter__(self) -> Iterator[TraceCallback[P]]:
        return iter(self._receivers)

    def __len__(self) -> int:
        return len(self._receivers)

    async def send(self, session: Any, context: SimpleNamespace, params: P) -> None:
        """Call every receiver in turn; what one raises goes to the request."""
        for receiver in self._receivers:
            await receiver(session, context, params)


# -- the parameter objects, field for field aiohttp's ------------------------------------


@dataclass(frozen=True)
class _RequestParams:
    method: str
    url: URL
    headers: CIMultiDict[str]


@dataclass(frozen=True)
class _ChunkParams:
    method: str
    url: URL
    chunk: bytes


@dataclass(frozen=True)
class _HostParams:
    host: str


class TraceRequestStartParams(_RequestParams):
    """``on_request_start``: a request is about to go out (before any connection):
    ``method``, ``url``, ``headers``."""


class TraceRequestHeadersSentParams(_RequestParams):
    """``on_request_headers_sent``: the request line and ``headers`` were written (a
    proxy's own headers are not among them)."""


class TraceRequestChunkSentParams(_ChunkParams):
    """``on_request_chunk_sent``: a piece of the request body (``chunk``) was written."""


class TraceResponseChunkReceivedParams(_ChunkParams):
    """``on_response_chunk_received``: ``read()`` (``text()``, ``json()``) got the body
    (``chunk``); as in aiohttp, bytes read from ``response.content`` directly are not
    reported."""


@dataclass(frozen=True)
class TraceRequestEndParams(_RequestParams):
    """``on_request_end``: the response head arrived (after any redirects); ``url`` is
    the URL first requested, as in aiohttp (``response.url`` is where it ended)."""

    response: ClientResponse


@dataclass(frozen=True)
class TraceRequestExceptionParams(_RequestParams):
    """``on_request_exception``: the request failed with ``exception`` (raised next)."""

    exception: BaseException


@dataclass(frozen=True)
class TraceRequestRedirectParams(_RequestParams):
    """``on_request_redirect``: ``response`` is a redirect that will be followed;
    ``url`` and ``headers`` are those of the request it answers."""

    response: ClientResponse


class TraceConnectionQueuedStartParams:
    """``on_connection_queued_start``: the pool's limit is reached; the request waits."""

    __slots__ = ()


class TraceConnectionQueuedEndParams:
    """``on_connection_queued_end``: the waiting request got its turn."""

    __slots__ = ()


class TraceConnectionCreateStartParams:
    """``on_connection_create_start``: a new connection (and any proxy tunnel, and TLS)
    is being opened."""

    __slots__ = ()


class TraceConnectionCreateEndParams:
    """``on_connection_create_end``: the new connection is open."""

    __slots__ = ()


class TraceConnectionReuseconnParams:
    """``on_connection_reuseconn``: an idle pooled connection is reused."""

    __slots__ = ()


class TraceDnsResolveHostStartParams(_HostParams):
    """``on_dns_resolvehost_start``: never sent by tidewire (no resolver step)."""


class TraceDnsResolveHostEndParams(_HostParams):
    """``on_dns_resolvehost_end``: never sent by tidewire (no resolver step)."""


class TraceDnsCacheHitParams(_HostParams):
    """``on_dns_cache_hit``: never sent by tidewire (no DNS cache)."""


class TraceDnsCacheMissParams(_HostParams):
    """``on_dns_cache_miss``: never sent by tidewire (no DNS cache)."""


class TraceConfig:
    """The callbacks of client tracing, aiohttp's way: append ``async def cb(session,
    trace_config_ctx, params)`` to the ``on_*`` signals and pass the config to
    ``ClientSession(trace_configs=[...])``.

    ``trace_config_ctx_factory`` makes the per-request context each callback of one
    request shares (a ``SimpleNamespace`` by default); it is called with
    ``trace_request_ctx=``, the value a request passed as ``trace_request_ctx``.
    """

    def __init__(
        self, trace_config_ctx_factory: Callable[..., SimpleNamespace] = SimpleNamespace
    ) -> None:
        self._factory = trace_config_ctx_factory
        self.on_request_start = TraceSignal[TraceRequestStartParams]()
        self.on_request_chunk_sent = TraceSignal[TraceRequestChunkSentParams]()
        self.on_response_chunk_received = TraceSignal[TraceResponseChunkReceivedParams]()
        self.on_request_end = TraceSignal[TraceRequestEndParams]()
        self.on_request_exception = TraceSignal[TraceRequestExceptionParams]()
        self.on_request_redirect = TraceSignal[TraceRequestRedirectParams]()
        self.on_request_headers_sent = TraceSignal[TraceRequestHeadersSentParams]()
        self.on_connection_queued_start = TraceSignal[TraceConnectionQueuedStartParams]()
        self.on_connection_queued_end = TraceSignal[TraceConnectionQueuedEndParams]()
        self.on_connection_create_start = TraceSignal[TraceConnectionCreateStartParams]()
        self.on_connection_create_end = TraceSignal[TraceConnectionCreateEndParams]()
        self.on_connection_reuseconn = TraceSignal[TraceConnectionReuseconnParams]()
        self.on_dns_resolvehost_start = TraceSignal[TraceDnsResolveHostStartParams]()
        self.on_dns_resolvehost_end = TraceSignal[TraceDnsResolveHostEndParams]()
        self.on_dns_cache_hit = TraceSignal[TraceDnsCacheHitParams]()
        self.on_dns_cache_miss = TraceSignal[TraceDnsCacheMissParams]()

    def _signals(self) -> Iterator[TraceSignal[Any]]:
        return (value for value in vars(self).values() if isinstance(value, TraceSignal))

    def trace_config_ctx(self, trace_request_ctx: Any = None) -> SimpleNamespace:
        """A new context for one request (the factory's, given ``trace_request_ctx``)."""
        return self._factory(trace_request_ctx=trace_request_ctx)

    def freeze(self) -> None:
        """Fix every signal's receivers; ``ClientSession`` does it to its configs."""
        for signal in self._signals():
            signal.freeze()


class Trace:
    """One request's view of one ``TraceConfig``: the session and the request's context
    go with every event sent through it."""

    __slots__ = ("_config", "_context", "_session")

    def __init__(self, session: Any, config: TraceConfig, trace_request_ctx: Any) -> None:
        self._session = session
        self._config = config
        self._context = config.trace_config_ctx(trace_request_ctx=trace_request_ctx)

    async def send(self, signal: str, params: object) -> None:
        """Send ``params`` to the config's signal named ``signal`` (``"on_request_end"``)."""
        receivers: TraceSignal[object] = getattr(self._config, signal)
        await receivers.send(self._session, self._context, params)


NO_TRACES: tuple[Trace, ...] = ()
"""What a request of a session without trace configs carries: nothing to send."""


async def emit(traces: tuple[Trace, ...], signal: str, params: object) -> None:
    """Send ``params`` to the signal named ``signal`` of every trace of a request, in the
    order of the session's configs."""
    for trace in traces:
        await trace.send(signal, params)


class SendTrace(NamedTuple):
    """What writing a traced request reports its headers and body pieces with."""

    traces: tuple[Trace, ...]
    method: str
    url: URL
    headers: CIMultiDict[str]

    async def headers_sent(self) -> None:
        """``on_request_headers_sent``, once the head is written."""
        sent = TraceRequestHeadersSentParams(self.method, self.url, self.headers)
        await emit(self.traces, "on_request_headers_sent", sent)

    async def chunk_sent(self, chunk: bytes) -> None:
        """``on_request_chunk_sent``, for each piece of the body written."""
        sent = TraceRequestChunkSentParams(self.method, self.url, chunk)
        await emit(self.traces, "on_request_chunk_sent", sent)


def body_tracer(
    traces: tuple[Trace, ...], method: str, url: URL
) -> Callable[[bytes], Awaitable[None]]:
    """The ``on_body`` of a traced response: reports the body ``read()`` returns."""

    async def received(body: bytes) -> None:
        params = TraceResponseChunkReceivedParams(method, url, body)
        await emit(traces, "on_response_chunk_received", params)

    return received
