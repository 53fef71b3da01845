"""Prometheus metrics of a server: ``metrics.setup(app, path="/metrics")``.

What is exposed (``prometheus_client``'s text format, from the registry given to
``setup``, the global one by default):

- ``tidewire_http_requests_total{method, route, status}``: answered requests. ``route``
  is the matched resource's path pattern (``/users/{id}``, with the prefixes of the
  sub-applications it is mounted in), never the raw path, so the number of series stays
  bounded; requests no route matched (404, 405) share ``route="<unmatched>"``.
- ``tidewire_http_request_duration_seconds{method, route}``: a histogram of the time
  from routing to the handler's answer (middlewares inside this one included). WebSocket
  upgrades are counted above with status 101 but left out of it: their handler runs as
  long as the connection.
- ``tidewire_websockets_open``: upgraded connections whose handler still runs.
- ``tidewire_websocket_messages_total{direction}`` and
  ``tidewire_websocket_bytes_total{direction}``: text and binary messages, and bytes
  that crossed the socket (framing and compression included), ``in`` and ``out``.
- ``tidewire_websocket_closes_total{code}``: finished WebSockets by close code.
- ``tidewire_websocket_handshakes_refused_total{status}``: requests asking for a
  WebSocket (``Upgrade: websocket``) answered with another status than 101.
- ``tidewire_hub_delivered_total{hub}`` and ``tidewire_hub_dropped_total{hub}``: for the
  ``Hub`` objects given to ``setup``, messages written to members and slow members
  disconnected.

Why it is built this way: counting must cost next to nothing on the hot path (the
echo benchmark with metrics on stays within 5% of off). So nothing here calls into
``prometheus_client`` per request or per message: requests are counted in plain dicts
of integers by a middleware, each WebSocket counts its own messages and bytes in a
``MessageStats`` attached before its 101 (see ``protocol/stats.py``), and everything
is summed and converted into metric families only when ``/metrics`` is scraped, by a
custom collector.

Under gunicorn (several worker processes), see ``setup``'s ``multiprocess``: each
worker copies its totals into ``prometheus_client``'s multiprocess files every
``interval`` seconds, and ``/metrics`` serves the sum over all workers.

``prometheus_client`` is an optional dependency (``pip install 'tidewire[metrics]'``):
this module imports without it, and ``setup`` raises ``ImportError`` saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from time import perf_counter
from typing import TYPE_CHECKING, Any

from tidewire.protocol.stats import MessageStats
from tidewire.server.app import AppKey, Application
from tidewire.server.exceptions import HTTPException
from tidewire.server.hub import Hub
from tidewire.server.response import Response, StreamResponse
from tidewire.server.router import DynamicResource, PlainResource, Resource, StaticResource
from tidewire.server.websocket import WebSocketResponse

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

    from tidewire.server.middleware import Handler
    from tidewire.server.request import Request

__all__ = ["BUCKETS", "UNMATCHED", "Metrics", "Snapshot", "handler", "route_label", "setup"]

UNMATCHED = "<unmatched>"
"""The ``route`` label of requests no route matched: one series for all of them, so a
scan of random paths cannot grow the number of series."""

BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
"""Upper bounds (seconds) of the latency histogram's buckets: ``prometheus_client``'s
defaults, so dashboards made for other exporters fit."""

_INSTALL = "tidewire.server.metrics needs prometheus_client: pip install 'tidewire[metrics]'"
_PREFIX = "tidewire_"
_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# A request's entry: [count, sum of seconds, one count per bucket, then +Inf].
_SUM, _FIRST_BUCKET = 1, 2

Labels = tuple[str, ...]


@dataclass
class Snapshot:
    """The numbers of one moment, with their labels: what a scrape renders and what the
    multiprocess mode copies into ``prometheus_client``'s files."""

    requests: dict[Labels, float] = field(default_factory=dict)
    """(method, route, status): answered requests."""
    latency: dict[Labels, list[float]] = field(default_factory=dict)
    """(method, route): [sum of seconds, count per bucket (not cumulative), +Inf]."""
    open: int = 0
    """WebSockets open."""
    messages: dict[Labels, float] = field(default_factory=dict)
    """(direction,): WebSocket messages."""
    bytes: dict[Labels, float] = field(default_factory=dict)
    """(direction,): WebSocket bytes."""
    closes: dict[Labels, float] = field(default_factory=dict)
    """(code,): finished WebSockets."""
    refused: dict[Labels, float] = field(default_factory=dict)
    """(status,): refused handshakes."""
    delivered: dict[Labels, float] = field(default_factory=dict)
    """(hub,): hub messages written to members."""
    dropped: dict[Labels, float] = field(default_factory=dict)
    """(hub,): slow hub members disconnected."""


class Metrics:
    """The counters of one application, kept as plain integers while it serves and
    turned into metric families when scraped (``collect``): the object ``setup``
    registers with a ``CollectorRegistry`` and returns.

    ``hubs`` maps a label to each ``Hub`` whose ``delivered`` and ``dropped`` are read
    at scrape time.
    """

    __slots__ = ("_closed", "_closes", "_open", "_refused", "_requests", "hubs")

    def __init__(self, hubs: Mapping[str, Hub] | None = None) -> None:
        self.hubs: dict[str, Hub] = dict(hubs or {})
        self._requests: dict[tuple[str, Resource | None, int], list[float]] = {}
        self._open: set[WebSocketResponse] = set()
        # messages in, messages out, bytes in, bytes out of the finished WebSockets
        self._closed = [0, 0, 0, 0]
        self._closes: dict[int, int] = {}
        self._refused: dict[int, int] = {}

    # -- counting (the hot path) -------------------------------------------------------

    async def middleware(self, request: Request, handler: Handler) -> StreamResponse:
        """Count and time each request; fold a WebSocket's counts in when its handler
        ends. ``setup`` installs it outermost."""
        start = perf_counter()
        status = 500  # what the server answers to an exception other than HTTPException
        cancelled = False
        try:
            response = await handler(request)
            if isinstance(response, StreamResponse):
                status = response.status
            return response
        except HTTPException as exc:
            status = exc.status
            raise
        except BaseException as exc:
            cancelled = not isinstance(exc, Exception)  # no waiting for a close then
            raise
        finally:
            sent = request._response
            if sent is None:  # the usual case: the server sends the answer after us
                self._count(request, status, perf_counter() - start)
            elif isinstance(sent, WebSocketResponse) and sent in self._open:
                await self._finish(sent, close=not cancelled)
                self._count(request, 101, None)
            else:  # a head sent by the handler (a stream): that status is what went out
                self._count(request, sent.status, perf_counter() - start)

    def _count(self, request: Request, status: int, elapsed: float | None) -> None:
        match = request._match_info
        key = (request.method, match.resource if match is not None else None, status)
        entry = self._requests.get(key)
        if entry is None:
            entry = self._requests[key] = [0.0] * (len(BUCKETS) + 3)
        entry[0] += 1
        if elapsed is not None:
            entry[_SUM] += elapsed
            entry[_FIRST_BUCKET + bisect_left(BUCKETS, elapsed)] += 1
        if status != 101 and "websocket" in request.headers.get("Upgrade", "").lower():
            self._refused[status] = self._refused.get(status, 0) + 1

    async def on_response_prepare(self, request: Request, response: StreamResponse) -> None:
        """Attach a ``MessageStats`` to a WebSocket before its 101 goes out (keeping
        one another tool attached already: it counts the same), and list it as open."""
        if isinstance(response, WebSocketResponse):
            if response.stats is None:
                response.stats = MessageStats()
            self._open.add(response)

    async def _finish(self, ws: WebSocketResponse, *, close: bool) -> None:
        """The WebSocket's handler ended: ``close`` it as the server does next (so its
        close code and last bytes are known; not when the handler was cancelled, as the
        server does not then), then add its counts to the totals."""
        if close:
            with contextlib.suppress(Exception):  # the server's own close() logs a failure
                await ws.close()
        self._open.discard(ws)
        stats = ws.stats
        if stats is not None:
            closed = self._closed
            closed[0] += stats.messages_in
            closed[1] += stats.messages_out
            closed[2] += stats.bytes_in
            closed[3] += stats.bytes_out
        # int(): a CloseCode member prints as its name on Python 3.10, not its number
        code = int(ws.close_code) if ws.close_code is not None else 1006
        self._closes[code] = self._closes.get(code, 0) + 1

    # -- reading (at scrape time) ------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The numbers now, labelled: requests summed by route label, WebSockets over
        the open ones plus the finished ones, the hubs read now."""
        snap = Snapshot()
        for (method, resource, status), entry in list(self._requests.items()):
            route = route_label(resource)
            key = (method, route, str(int(status)))
            snap.requests[key] = snap.requests.get(key, 0) + entry[0]
            if status == 101:
                continue
            hist = snap.latency.setdefault((method, route), [0.0] * (len(BUCKETS) + 2))
            for i, value in enumerate(entry[_SUM:]):
                hist[i] += value
        mi, mo, bi, bo = self._closed
        opened = tuple(self._open)  # one copy: a scrape from another thread sees a set
        for ws in opened:
            stats = ws.stats
            if stats is not None:
                mi += stats.messages_in
                mo += stats.messages_out
                bi += stats.bytes_in
                bo += stats.bytes_out
        snap.open = len(opened)
        snap.messages = {("in",): mi, ("out",): mo}
        snap.bytes = {("in",): bi, ("out",): bo}
        snap.closes = {(str(code),): n for code, n in list(self._closes.items())}
        snap.refused = {(str(int(status)),): n for status, n in list(self._refused.items())}
        snap.delivered = {(name,): hub.delivered for name, hub in self.hubs.items()}
        snap.dropped = {(name,): hub.dropped for name, hub in self.hubs.items()}
        return snap

    def collect(self) -> Iterator[Metric]:
        """The metric families, built from a ``snapshot`` (prometheus_client's
        collector interface: the registry calls it at each scrape)."""
        return _families(self.snapshot())

    def describe(self) -> Iterator[Metric]:
        """The families without samples, so registering does not collect (and a name
        registered twice in one registry fails at once)."""
        return _families(Snapshot())


def route_label(resource: Resource | None) -> str:
    """The ``route`` label of a matched resource: its path pattern with the prefixes of
    the sub-applications above it; ``UNMATCHED`` for None."""
    if resource is None:
        return UNMATCHED
    if isinstance(resource, PlainResource | DynamicResource):
        return resource.url_prefix + resource.path
    if isinstance(resource, StaticResource):
        return f"{resource.url_prefix}{resource.prefix}/{{filename}}"
    return resource.name or type(resource).__name__


# (name, help, labels) of the counters of a Snapshot, by its attribute
_COUNTERS: dict[str, tuple[str, str, Labels]] = {
    "requests": (
        "http_requests",
        "HTTP requests answered, by method, route pattern and status",
        ("method", "route", "status"),
    ),
    "messages": (
        "websocket_messages",
        "WebSocket text and binary messages, by direction",
        ("direction",),
    ),
    "bytes": (
        "websocket_bytes",
        "Bytes that crossed WebSocket connections (framing included), by direction",
        ("direction",),
    ),
    "closes": ("websocket_closes", "WebSockets finished, by close code", ("code",)),
    "refused": (
        "websocket_handshakes_refused",
        "WebSocket upgrade requests answered with another status than 101",
        ("status",),
    ),
    "delivered": ("hub_delivered", "Hub messages written to members", ("hub",)),
    "dropped": ("hub_dropped", "Slow hub members disconnected", ("hub",)),
}
_LATENCY = (
    "http_request_duration_seconds",
    "Time to answer HTTP requests (WebSocket upgrades left out), by method and route",
    ("method", "route"),
)
_OPEN = ("websockets_open", "WebSocket connections whose handler runs")


def _families(snap: Snapshot) -> Iterator[Metric]:
    from prometheus_client.core import (  # noqa: PLC0415  # optional dependency
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )

    for attr, (name, doc, labels) in _COUNTERS.items():
        counter = CounterMetricFamily(_PREFIX + name, doc, labels=labels)
        for values, value in getattr(snap, attr).items():
            counter.add_metric(values, value)
        yield counter
    name, doc, labels = _LATENCY
    histogram = HistogramMetricFamily(_PREFIX + name, doc, labels=labels)
    bounds = [str(b) for b in BUCKETS] + ["+Inf"]  # as prometheus_client writes them
    for values, hist in snap.latency.items():
        total, buckets = 0.0, []
        for bound, count in zip(bounds, hist[1:], strict=True):
            total += count
            buckets.append((bound, total))
        histogram.add_metric(values, buckets, hist[0])
    yield histogram
    yield GaugeMetricFamily(_PREFIX + _OPEN[0], _OPEN[1], value=snap.open)


# -- gunicorn: prometheus_client's multiprocess mode -----------------------------------


class _Mirror:
    """This process's totals copied into prometheus_client's multiprocess files
    (``PROMETHEUS_MULTIPROC_DIR``), which its ``MultiProcessCollector`` sums over all
    the workers: custom collectors are not aggregated across processes, values in
    those files are. ``sync`` adds what changed since the last one."""

    def __init__(self, metrics: Metrics) -> None:
        from prometheus_client import Counter, Gauge, Histogram  # noqa: PLC0415

        self.metrics = metrics
        self.last = Snapshot()
        self.counters = {
            attr: Counter(_PREFIX + name, doc, labels, registry=None)
            for attr, (name, doc, labels) in _COUNTERS.items()
        }
        name, doc, labels = _LATENCY
        self.histogram = Histogram(_PREFIX + name, doc, labels, registry=None, buckets=BUCKETS)
        # livesum: the open sockets of the workers alive (see mark_process_dead)
        self.open = Gauge(_PREFIX + _OPEN[0], _OPEN[1], registry=None, multiprocess_mode="livesum")

    def sync(self) -> None:
        now = self.metrics.snapshot()
        for attr, counter in self.counters.items():
            before: dict[Labels, float] = getattr(self.last, attr)
            for values, value in getattr(now, attr).items():
                if value > before.get(values, 0):
                    counter.labels(*values).inc(value - before.get(values, 0))
        for values, hist in now.latency.items():
            old = self.last.latency.get(values, [0.0] * len(hist))
            child: Any = self.histogram.labels(*values)
            # No public call adds n observations to a bucket: these are the child's
            # multiprocess values that observe() increments (prometheus_client's
            # internals: test_multiprocess_mode_sums_the_workers checks them).
            if hist[0] != old[0]:
                child._sum.inc(hist[0] - old[0])
            for i, count in enumerate(hist[1:]):
                if count != old[i + 1]:
                    child._buckets[i].inc(count - old[i + 1])
        self.open.set(now.open)
        self.last = now

    async def run(self, interval: float) -> None:
        while True:
            self.sync()
            await asyncio.sleep(interval)


@dataclass
class _State:
    metrics: Metrics
    registry: CollectorRegistry | None
    mirror: _Mirror | None


_STATE: AppKey[_State] = AppKey("tidewire.server.metrics.state", _State)


def _require() -> None:
    try:
        import prometheus_client  # noqa: F401, PLC0415
    except ImportError as exc:
        raise ImportError(_INSTALL, name="prometheus_client") from exc


def setup(
    app: Application,
    *,
    registry: CollectorRegistry | None = None,
    path: str | None = None,
    hubs: Iterable[Hub] | Mapping[str, Hub] = (),
    multiprocess: bool | None = None,
    interval: float = 5.0,
) -> Metrics:
    """Count ``app``'s requests and WebSockets (and its sub-applications') for
    Prometheus; returns the ``Metrics`` registered with ``registry``.

    - ``registry``: where the collector goes (prometheus_client's global ``REGISTRY``
      by default, so ``/metrics`` also shows the process and GC metrics).
    - ``path``: add a GET route there serving the metrics (or add ``handler`` to a
      route yourself).
    - ``hubs``: hubs whose deliveries and drops are exposed, labelled by their key in
      a mapping, by their position ("0", "1", ...) in a sequence.
    - ``multiprocess``: copy the totals into prometheus_client's multiprocess files
      every ``interval`` seconds (and at each scrape and at cleanup), and serve the sum
      over every process writing there: what a gunicorn server needs, one process per
      worker, each scrape answered by any one of them. None (the default): on when
      ``PROMETHEUS_MULTIPROC_DIR`` is set, as prometheus_client decides.

    Call it before the application starts (``RuntimeError`` after). Raises
    ``ImportError`` without prometheus_client (``pip install 'tidewire[metrics]'``).
    """
    _require()
    if app.frozen:
        raise RuntimeError("metrics.setup() must run before the application starts")
    named = dict(hubs) if isinstance(hubs, Mapping) else {str(i): h for i, h in enumerate(hubs)}
    metrics = Metrics(named)
    shared = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if multiprocess is None:
        multiprocess = bool(shared)
    elif multiprocess and not shared:
        raise ValueError("multiprocess=True needs PROMETHEUS_MULTIPROC_DIR (a directory)")
    mirror = _Mirror(metrics) if multiprocess else None
    if registry is None:
        from prometheus_client import REGISTRY  # noqa: PLC0415

        registry = REGISTRY
    if mirror is None:
        registry.register(metrics)
    app[_STATE] = _State(metrics, None if mirror is not None else registry, mirror)
    app.middlewares = (metrics.middleware, *app.middlewares)
    app.on_response_prepare.append(metrics.on_response_prepare)
    if mirror is not None:
        app.cleanup_ctx.append(_syncing(mirror, interval))
    if path is not None:
        app.router.add_get(path, handler)
    return metrics


def _syncing(mirror: _Mirror, interval: float) -> Any:
    async def ctx(app: Application) -> Any:
        task = asyncio.get_running_loop().create_task(mirror.run(interval))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        mirror.sync()

    return ctx


async def handler(request: Request) -> Response:
    """Serve the metrics in Prometheus' text format: the registry ``setup`` was given,
    or in multiprocess mode the sum over the processes (this one synced first).
    ``RuntimeError`` when ``setup`` was not called for this application."""
    from prometheus_client import CollectorRegistry, generate_latest  # noqa: PLC0415

    state = request.config_dict.get(_STATE)
    if not isinstance(state, _State):
        raise RuntimeError("call tidewire.server.metrics.setup(app) first")
    registry = state.registry
    if state.mirror is not None:
        from prometheus_client.multiprocess import MultiProcessCollector  # noqa: PLC0415

        state.mirror.sync()
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    assert registry is not None
    return Response(body=generate_latest(registry), headers={"Content-Type": _CONTENT_TYPE})
