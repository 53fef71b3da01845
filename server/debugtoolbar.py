"""A debug toolbar for development: what the last requests did, and the WebSockets open now.

    from tidewire.server import debugtoolbar

    debugtoolbar.setup(app)  # before the app starts; never in production

Every text/html ``Response`` gets a small badge (this request's status and time) that
links to ``/_debugtoolbar/``: the last ``max_requests`` requests, newest first, each with
its request line, headers, cookies, session, matched route and handler, the middlewares
of its chain, the response's status and headers, its time, the log records emitted
while it ran, and the exception with its traceback if the handler raised.
``/_debugtoolbar/websockets`` shows the WebSockets open now (path, subprotocol,
permessage-deflate, messages and bytes each way, their last messages) and the recently
closed ones with their close code and reason, updated live over a WebSocket of its own.

Only requests from ``hosts`` (127.0.0.1 and ::1 unless told otherwise) are recorded and
answered; one carrying ``Forwarded`` or ``X-Forwarded-For`` is refused (403, no badge),
since behind a reverse proxy on the same machine every client looks local, and so is
one whose ``Host`` names anything but ``localhost`` or an IP address: a page of another
site whose name was made to resolve to 127.0.0.1 (DNS rebinding) cannot read it. The toolbar
shows cookies, sessions and tracebacks to whoever it answers: keep it to development.

Log records reach the toolbar through a handler on the root logger, so only those the
logging configuration lets through it (the root logger's level, WARNING by default,
filters loggers that set none).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import html
import ipaddress
import itertools
import json
import logging
import time
import traceback
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from multidict import CIMultiDict

from tidewire.protocol.messages import WSMsgType
from tidewire.protocol.stats import MessageStats
from tidewire.server.app import Application
from tidewire.server.exceptions import HTTPException, HTTPForbidden, HTTPNotFound
from tidewire.server.forwarded import ip_address_of
from tidewire.server.middleware import Handler
from tidewire.server.request import Request
from tidewire.server.response import Response, StreamResponse
from tidewire.server.sessions import _SESSION
from tidewire.server.websocket import WebSocketResponse

__all__ = ["setup"]

log = logging.getLogger("tidewire.server.debugtoolbar")

PREFIX = "/_debugtoolbar/"
_RECORD = "tidewire.debugtoolbar.record"  # the request's record, in its state
_MAX_LOGS = 200  # log records kept per request
_current: contextvars.ContextVar[_Record | None] = contextvars.ContextVar(
    "tidewire_debugtoolbar_record", default=None
)


@dataclass
class _Record:
    """What the toolbar keeps of one request."""

    id: int
    started: float  # time.time(), to show
    clock: float  # time.perf_counter(), to measure
    request_line: str
    remote: str
    headers: list[tuple[str, str]]
    cookies: dict[str, str]
    route: dict[str, str]
    middlewares: list[str]
    status: int | None = None
    reason: str = ""
    # The response's own header multidict: the head adds Set-Cookie, Content-Length and
    # Date to it as it goes out, so reading it later shows what was sent, and keeping
    # it does not keep the body.
    response_headers: CIMultiDict[str] = field(default_factory=CIMultiDict)
    duration: float | None = None
    session: dict[str, Any] | None = None
    logs: list[tuple[float, str, str, str]] = field(default_factory=list)
    exception: str | None = None

    @classmethod
    def begin(cls, number: int, request: Request) -> _Record:
        match = request.match_info
        handler = match.handler
        major, minor = request.version
        return cls(
            id=number,
            started=time.time(),
            clock=time.perf_counter(),
            request_line=f"{request.method} {request.raw_path} HTTP/{major}.{minor}",
            remote=str(request.remote),
            headers=list(request.headers.items()),
            cookies=dict(request.cookies),
            route={
                "name": match.route_name or "",
                "handler": _qualname(handler),
                "resource": str(match.resource),
                "parameters": json.dumps(dict(match)),
            },
            middlewares=[_qualname(mw) for app in match.apps for mw in app.middlewares],
        )

    def elapsed(self) -> float:
        return self.duration if self.duration is not None else time.perf_counter() - self.clock


def _qualname(obj: object) -> str:
    module = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", None) or repr(obj)
    return f"{module}.{name}" if module else name


@dataclass
class _Socket:
    """An open WebSocket the toolbar watches."""

    ws: WebSocketResponse
    path: str
    opened: float
    stats: MessageStats

    def snapshot(self, number: int) -> dict[str, Any]:
        ws, stats = self.ws, self.stats
        deflate = ws.connection.deflate if ws.prepared else None
        return {
            "id": number,
            "path": self.path,
            "protocol": ws.protocol,
            "extensions": deflate.as_header() if deflate is not None else "",
            "messages_in": stats.messages_in,
            "messages_out": stats.messages_out,
            "bytes_in": stats.bytes_in,
            "bytes_out": stats.bytes_out,
            "recent": [
                ["out" if out else "in", data if isinstance(data, str) else repr(data)]
                for out, data in stats.recent or ()
            ],
            "opened": self.opened,
        }


class _LogCapture(logging.Handler):
    """Routes each log record to the request running when it was emitted."""

    def emit(self, record: logging.LogRecord) -> None:
        target = _current.get()
        if target is not None and len(target.logs) < _MAX_LOGS:
            try:
                text = self.format(record)
            except Exception:
                self.handleError(record)  # logging's way: a message that does not format
                return
            target.logs.append((record.created, record.levelname, record.name, text))


class _Toolbar:
    """The toolbar of one application: its settings, the last requests and the sockets."""

    def __init__(self, hosts: Iterable[str], max_requests: int, max_closed: int) -> None:
        hosts = [hosts] if isinstance(hosts, str) else hosts  # one host, not its characters
        self.networks = [ipaddress.ip_network(host, strict=False) for host in hosts]
        self.requests: deque[_Record] = deque(maxlen=max_requests)  # newest first
        self.open: dict[int, _Socket] = {}
        self.closed: deque[dict[str, Any]] = deque(maxlen=max_closed)  # newest first
        self.numbers = itertools.count(1)
        self.capture = _LogCapture()

    # -- who may see it ------------------------------------------------------------

    def allows(self, request: Request) -> bool:
        """A request from a listed host that no proxy forwarded."""
        if "Forwarded" in request.headers or "X-Forwarded-For" in request.headers:
            return False
        if not _local_name(request.headers.get("Host", "")):
            return False
        peer = request.protocol.peername  # the socket's peer, not what a clone claims
        host = peer[0] if isinstance(peer, (tuple, list)) and peer else None
        # a Unix socket's peer has no address: not one we were told to trust
        address = ip_address_of(host) if isinstance(host, str) else None
        return address is not None and any(address in network for network in self.networks)

    def guard(self, handler: Handler) -> Handler:
        async def guarded(request: Request) -> StreamResponse:
            if not self.allows(request):
                raise HTTPForbidden(text="the debug toolbar answers only local requests")
            return await handler(request)

        return guarded

    # -- recording -----------------------------------------------------------------

    async def middleware(self, request: Request, handler: Handler) -> StreamResponse:
        if request.path.startswith(PREFIX) or not self.allows(request):
            return await handler(request)
        record = _Record.begin(next(self.numbers), request)
        self.requests.appendleft(record)
        request[_RECORD] = record
        token = _current.set(record)
        try:
            return await handler(request)
        except HTTPException:
            raise  # a response: its status shows when it is sent
        except Exception:
            record.exception = traceback.format_exc()
            raise
        finally:
            _current.reset(token)
            record.duration = time.perf_counter() - record.clock
            session = request.get(_SESSION)
            record.session = dict(session) if session is not None else None
            self.socket_closed(record.id)

    async def on_prepare(self, request: Request, response: StreamResponse) -> None:
        record: _Record | None = request.get(_RECORD)
        if record is None:
            return
        record.status, record.reason = response.status, response.reason
        record.response_headers = response.headers
        if isinstance(response, WebSocketResponse):
            stats = response.stats = MessageStats(keep=20, truncate=200)
            self.open[record.id] = _Socket(response, request.path, time.time(), stats)
        elif (
            isinstance(response, Response)
            and response.content_type == "text/html"
            and "Content-Encoding" not in response.headers
            and response._compression is None  # to be compressed: left alone too
        ):
            response.body = _inject(response.body, _badge(record))

    def socket_closed(self, number: int) -> None:
        """Its handler returned: from the open sockets to the recently closed ones."""
        socket = self.open.pop(number, None)
        if socket is not None:
            closed = socket.snapshot(number)
            ws = socket.ws
            closed.update(closed=time.time(), code=ws.close_code, reason=ws.close_reason)
            self.closed.appendleft(closed)

    def sockets(self) -> dict[str, Any]:
        return {
            "open": [socket.snapshot(n) for n, socket in sorted(self.open.items())],
            "closed": list(self.closed),
        }

    # -- pages ---------------------------------------------------------------------

    async def index(self, request: Request) -> StreamResponse:
        rows = "".join(
            f"<tr><td><a href='{PREFIX}{r.id}'>#{r.id}</a></td><td>{_clock(r.started)}</td>"
            f"<td>{_e(r.request_line)}</td><td>{_e(r.status)}</td>"
            f"<td>{_ms(r.elapsed())}</td><td>{_e(r.route['name'])}</td>"
            f"<td>{'error' if r.exception else ''}</td></tr>"
            for r in self.requests
        )
        return _page(
            "Requests",
            "<table id='requests'><tr><th>#</th><th>at</th><th>request</th><th>status</th>"
            f"<th>time</th><th>route</th><th></th></tr>{rows}</table>",
        )

    async def detail(self, request: Request) -> StreamResponse:
        number = request.match_info["number"]
        record = next((r for r in self.requests if str(r.id) == number), None)
        if record is None:
            raise HTTPNotFound(text=f"request #{number} is no longer kept")
        session = (
            "<p>none loaded</p>"
            if record.session is None
            else _table((k, json.dumps(v, default=repr)) for k, v in record.session.items())
        )
        logs = "".join(
            f"<tr><td>+{_ms(at - record.started)}</td><td>{_e(level)}</td>"
            f"<td>{_e(name)}</td><td><pre>{_e(text)}</pre></td></tr>"
            for at, level, name, text in record.logs
        )
        exception = f"<pre id='exception'>{_e(record.exception)}</pre>" if record.exception else ""
        body = (
            f"<h2 id='request-line'>{_e(record.request_line)}</h2>"
            f"<p>from {_e(record.remote)} at {_clock(record.started)}, "
            f"<b id='status'>{_e(record.status)} {_e(record.reason)}</b> in "
            f"<b id='time'>{_ms(record.elapsed())}</b></p>"
            f"{exception}"
            f"<h3>Request headers</h3>{_table(record.headers, 'request-headers')}"
            f"<h3>Cookies</h3>{_table(record.cookies.items(), 'cookies')}"
            f"<h3>Session</h3><div id='session'>{session}</div>"
            f"<h3>Route</h3>{_table(record.route.items(), 'route')}"
            "<h3>Middlewares</h3><ol id='middlewares'>"
            f"{''.join(f'<li>{_e(m)}</li>' for m in record.middlewares)}</ol>"
            "<h3>Response headers</h3>"
            f"{_table(record.response_headers.items(), 'response-headers')}"
            f"<h3>Log records</h3><table id='logs'>{logs}</table>"
        )
        return _page(f"Request #{record.id}", body)

    async def websockets(self, request: Request) -> StreamResponse:
        data = json.dumps(self.sockets()).replace("<", "\\u003c")
        # the snapshot last: a message that reads "$PREFIX" stays as it is
        body = _WEBSOCKETS_BODY.replace("$PREFIX", PREFIX).replace("$SNAPSHOT", data)
        return _page("WebSockets", body)

    async def feed(self, request: Request) -> StreamResponse:
        """The WebSockets panel's live feed: a JSON snapshot whenever it changes
        (looked at every half second)."""
        # A browser lets any site open a WebSocket to localhost: only our own pages may.
        ws = WebSocketResponse(origin_check=lambda origin: _same_origin(origin, request))
        await ws.prepare(request)
        sent = ""
        while not ws.closed:
            snapshot = json.dumps(self.sockets())
            if snapshot != sent:
                await ws.send_str(snapshot)
                sent = snapshot
            with contextlib.suppress(asyncio.TimeoutError):
                msg = await ws.receive(timeout=0.5)
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR):
                    break
        return ws

    async def capture_logs(self, app: Application) -> AsyncIterator[None]:
        root = logging.getLogger()
        root.addHandler(self.capture)
        yield
        root.removeHandler(self.capture)


def _same_origin(origin: str | None, request: Request) -> bool:
    """No Origin (not a browser), or the page's own: scheme and host as requested."""
    return origin is None or origin == f"{request.scheme}://{request.host}"


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def _clock(timestamp: float) -> str:
    milliseconds = int(timestamp * 1000) % 1000
    return time.strftime("%H:%M:%S", time.localtime(timestamp)) + f".{milliseconds:03d}"


def _table(rows: Iterable[tuple[str, str]], ident: str = "") -> str:
    cells = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<table id='{ident}'>{cells}</table>" if cells else "<p>none</p>"


def _inject(body: bytes, badge: bytes) -> bytes:
    """``badge`` before the last ``</body>``, or at the end when there is none."""
    at = body.lower().rfind(b"</body>")
    return body + badge if at < 0 else body[:at] + badge + body[at:]


def _badge(record: _Record) -> bytes:
    text = f"{record.status} &middot; {_ms(record.elapsed())}"
    return (
        f"<a id='tidewire-debugtoolbar' href='{PREFIX}{record.id}' title='tidewire debug "
        "toolbar' style='position:fixed;right:8px;bottom:8px;z-index:2147483647;"
        "font:12px/1.6 monospace;background:#123;color:#fff;padding:2px 8px;"
        f"border-radius:4px;text-decoration:none'>tidewire {text}</a>"
    ).encode("ascii")


_STYLE = (
    "body{font:14px/1.4 system-ui,sans-serif;margin:0 16px 16px;color:#123}"
    "nav{background:#123;margin:0 -16px 8px;padding:6px 16px}nav a{color:#fff;margin-right:16px}"
    "table{border-collapse:collapse;margin:4px 0}td,th{border:1px solid #ccd;padding:2px 6px;"
    "text-align:left;vertical-align:top;font-size:13px}th{background:#eef}"
    "pre{margin:0;white-space:pre-wrap}#exception{background:#fee;padding:8px}"
    ".recent{font:12px monospace;max-width:420px;overflow:hidden}"
)


def _page(title: str, body: str) -> Response:
    return Response(
        text="<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{_e(title)} &middot; tidewire debug toolbar</title><style>{_STYLE}</style>"
        f"</head><body><nav><a href='{PREFIX}'>Requests</a>"
        f"<a href='{PREFIX}websockets'>WebSockets</a></nav><h1>{_e(title)}</h1>{body}"
        "</body></html>",
        content_type="text/html",
    )


# Filled in by script from the JSON snapshot, with textContent only (nothing is parsed
# as HTML); the first snapshot is in the page, the next ones come over the feed.
_WEBSOCKETS_BODY = """
<p id="feed-state">connecting&hellip;</p>
<h2>Open</h2>
<table><thead><tr><th>#</th><th>path</th><th>subprotocol</th><th>extensions</th>
<th>msgs in</th><th>msgs out</th><th>bytes in</th><th>bytes out</th><th>opened</th>
<th>recent messages</th></tr></thead><tbody id="open"></tbody></table>
<h2>Recently closed</h2>
<table><thead><tr><th>#</th><th>path</th><th>subprotocol</th><th>extensions</th>
<th>msgs in</th><th>msgs out</th><th>bytes in</th><th>bytes out</th><th>opened</th>
<th>recent messages</th><th>closed</th><th>code</th><th>reason</th></tr></thead>
<tbody id="closed"></tbody></table>
<script id="snapshot" type="application/json">$SNAPSHOT</script>
<script>
"use strict";
const COLUMNS = ["id", "path", "protocol", "extensions", "messages_in", "messages_out",
                 "bytes_in", "bytes_out", "opened", "recent"];
function cell(row, name, value) {
  const td = row.insertCell();
  td.className = name.replace("_", "-");
  if (name === "opened" || name === "closed") value = new Date(value * 1000).toLocaleTimeString();
  if (name === "id") {
    const link = document.createElement("a");
    link.href = "$PREFIX" + value;
    link.textContent = "#" + value;
    td.appendChild(link);
  } else if (name === "recent") {
    td.classList.add("recent");
    for (const [way, text] of value) {
      const line = document.createElement("div");
      line.textContent = (way === "out" ? "\\u2192 " : "\\u2190 ") + text;
      td.appendChild(line);
    }
  } else td.textContent = value === null ? "" : String(value);
}
function fill(id, sockets, extra) {
  const body = document.getElementById(id);
  body.replaceChildren();
  for (const socket of sockets) {
    const row = body.insertRow();
    row.dataset.path = socket.path;
    for (const name of COLUMNS.concat(extra)) cell(row, name, socket[name]);
  }
}
function render(snapshot) {
  fill("open", snapshot.open, []);
  fill("closed", snapshot.closed, ["closed", "code", "reason"]);
}
render(JSON.parse(document.getElementById("snapshot").textContent));
function connect() {
  const state = document.getElementById("feed-state");
  const ws = new WebSocket(location.origin.replace(/^http/, "ws") + "$PREFIXws");
  ws.onopen = () => { state.textContent = "live"; };
  ws.onmessage = (event) => render(JSON.parse(event.data));
  ws.onclose = () => { state.textContent = "disconnected, retrying"; setTimeout(connect, 1000); };
}
connect();
</script>
"""


def setup(
    app: Application,
    *,
    hosts: Iterable[str] = ("127.0.0.1", "::1"),
    max_requests: int = 100,
    max_closed: int = 50,
) -> None:
    """Turn the debug toolbar on for ``app``: its pages under ``/_debugtoolbar/``, a
    badge in its HTML pages, its requests and WebSockets recorded. For development
    only, so it logs a warning saying so.

    ``hosts`` are the addresses or networks (``"10.0.0.0/8"``) it answers and records,
    instead of 127.0.0.1 and ::1 (a string is one of them); ``max_requests`` requests
    and ``max_closed`` closed WebSockets are kept. Call it on the root application
    before it starts (``RuntimeError`` after); ``ValueError`` for a host that is no
    address or network.
    """
    if app.frozen:
        raise RuntimeError("debugtoolbar.setup() must run before the application starts")
    toolbar = _Toolbar(hosts, max_requests, max_closed)
    app.middlewares = (toolbar.middleware, *app.middlewares)
    app.on_response_prepare.append(toolbar.on_prepare)
    app.cleanup_ctx.append(toolbar.capture_logs)
    router = app.router
    router.add_get(PREFIX, toolbar.guard(toolbar.index), name="debugtoolbar.index")
    router.add_get(PREFIX + "websockets", toolbar.guard(toolbar.websockets))
    router.add_get(PREFIX + "ws", toolbar.guard(toolbar.feed))
    router.add_get(PREFIX + "{number:\\d+}", toolbar.guard(toolbar.detail))
    log.warning("debug toolbar enabled: never in production")


def _local_name(host: str) -> bool:
    """Whether a ``Host`` header names ``localhost`` or an IP address (port aside):
    a DNS name may have been pointed at 127.0.0.1 by a hostile page (DNS rebinding)."""
    if host.startswith("["):  # [IPv6]:port
        name = host[1 : host.find("]")].partition("%")[0]
    else:
        name = host.rpartition(":")[0] if host.count(":") == 1 else host
    if name.lower() == "localhost":
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
