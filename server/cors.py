"""Cross-origin requests (CORS): which other sites' pages may call this application.

    from tidewire.server import cors

    cors.setup(app, origins=["https://app.example"], credentials=True, max_age=600)

A browser lets a page of another origin read a response only if the response says so
(``Access-Control-Allow-Origin``), and asks first, with an ``OPTIONS`` preflight, before
a request that is not "simple" (a JSON body, a custom header, PUT or DELETE). ``setup``
answers the preflights of every route of the application (and its sub-applications):
204 with what is allowed when the origin, the method and the headers asked for are,
else 403 saying which was refused; and it marks every response to an allowed origin,
errors and streamed responses included. The application's handlers never see a
preflight. aiohttp needs the ``aiohttp_cors`` plugin for this, which does not run on
tidewire; here it is one call, for the whole application.

CORS does not apply to WebSockets: a browser sends ``Origin`` with the upgrade request
but opens the socket whatever the answer's headers say, so the server must refuse
foreign origins itself. Give the same list to both:
``WebSocketResponse(origin_check=config.allows_origin)`` refuses the upgrade (403) from
an origin ``setup`` would not allow.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Literal

from tidewire.server.app import Application
from tidewire.server.exceptions import HTTPForbidden
from tidewire.server.middleware import Handler
from tidewire.server.request import Request
from tidewire.server.response import Response, StreamResponse, add_vary

__all__ = ["CorsConfig", "setup"]

ANY: Literal["*"] = "*"
_SIMPLE_METHODS = ("GET", "HEAD", "POST")


@dataclass(frozen=True)
class CorsConfig:
    """What ``setup`` allows; see its arguments."""

    origins: frozenset[str] | Literal["*"]
    methods: frozenset[str]
    headers: frozenset[str] | Literal["*"]
    expose_headers: tuple[str, ...]
    credentials: bool
    max_age: int | None

    def allows_origin(self, origin: str | None) -> bool:
        """Whether a page of ``origin`` may call the application; also an
        ``origin_check`` for ``WebSocketResponse``. No Origin header (not a browser's
        cross-origin request): True."""
        if origin is None:
            return True
        return self.origins == ANY or origin.lower() in self.origins

    def _allow_origin(self, origin: str) -> str:
        # "*" cannot carry credentials (Fetch standard): name the origin instead.
        return "*" if self.origins == ANY and not self.credentials else origin


def _names(values: Iterable[str] | Literal["*"], *, upper: bool) -> frozenset[str] | Literal["*"]:
    if values == ANY:
        return ANY
    if isinstance(values, str):
        raise TypeError(f"give a list of names, not the string {values!r} (or '*')")
    return frozenset(v.strip().upper() if upper else v.strip().lower() for v in values)


def setup(
    app: Application,
    *,
    origins: Collection[str] | Literal["*"],
    methods: Collection[str] = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"),
    headers: Collection[str] | Literal["*"] = ANY,
    expose_headers: Collection[str] = (),
    credentials: bool = False,
    max_age: int | None = None,
) -> CorsConfig:
    """Answer preflights and mark responses for the pages of ``origins``.

    - ``origins``: the origins allowed, as browsers send them
      (``"https://app.example:8443"``), or ``"*"`` for any.
    - ``methods``: the methods a page may use beyond GET, HEAD and POST (those need
      no preflight); a preflight for a method the path has no route for is refused.
    - ``headers``: the request headers a page may send (``"*"``: any it asks for).
    - ``expose_headers``: the response headers a page may read beyond the simple ones.
    - ``credentials``: whether pages may send cookies and read the answers; with
      ``origins="*"`` the page's own origin is then named, as the standard requires.
    - ``max_age``: seconds a browser may cache a preflight's answer.

    Call it before the application starts; it returns the ``CorsConfig`` (its
    ``allows_origin`` is an ``origin_check`` for WebSockets). Raises ``RuntimeError``
    on a running application.
    """
    if app.frozen:
        raise RuntimeError("cors.setup() must run before the application starts")
    method_names = _names(methods, upper=True)
    assert method_names != ANY  # a Collection[str] gives names
    config = CorsConfig(
        origins=_names(origins, upper=False),
        methods=method_names | frozenset(_SIMPLE_METHODS),
        headers=_names(headers, upper=False),
        expose_headers=tuple(expose_headers),
        credentials=credentials,
        max_age=max_age,
    )

    async def preflight(request: Request, handler: Handler) -> StreamResponse:
        headers = request.headers
        if (
            request.method != "OPTIONS"
            or "Origin" not in headers
            or "Access-Control-Request-Method" not in headers
        ):
            return await handler(request)
        return _answer_preflight(config, request)

    async def mark(request: Request, response: StreamResponse) -> None:
        origin = request.headers.get("Origin")
        if response.status == 101:  # a WebSocket: origin_check decides, not CORS
            return
        if config.origins != ANY:
            add_vary(response.headers, "Origin")  # caches keep one answer per origin
        if origin is None or not config.allows_origin(origin):
            return
        out = response.headers
        out["Access-Control-Allow-Origin"] = config._allow_origin(origin)
        if config.credentials:
            out["Access-Control-Allow-Credentials"] = "true"
        if config.expose_headers:
            out["Access-Control-Expose-Headers"] = ", ".join(config.expose_headers)

    app.middlewares = (preflight, *app.middlewares)
    app.on_response_prepare.append(mark)
    return config


def _answer_preflight(config: CorsConfig, request: Request) -> Response:
    headers = request.headers
    origin = headers["Origin"]
    method = headers["Access-Control-Request-Method"].strip().upper()
    listed = headers.get("Access-Control-Request-Headers", "").split(",")
    asked = [name.strip().lower() for name in listed if name.strip()]
    if not config.allows_origin(origin):
        raise HTTPForbidden(text=f"CORS: the origin {origin!r} is not allowed")
    if method not in config.methods:
        raise HTTPForbidden(text=f"CORS: the method {method} is not allowed")
    root = request.match_info.apps[0]  # the application served: it routes the whole path
    match, _ = root.router.resolve_path(method, request.path)
    if match is None:
        raise HTTPForbidden(text=f"CORS: {request.path} has no {method} route")
    if config.headers != ANY:
        refused = [h for h in asked if h not in config.headers]
        if refused:
            raise HTTPForbidden(text=f"CORS: the headers {', '.join(refused)} are not allowed")
    response = Response(status=204)
    out = response.headers
    out["Access-Control-Allow-Origin"] = config._allow_origin(origin)
    out["Access-Control-Allow-Methods"] = ", ".join(sorted(config.methods))
    if asked:
        out["Access-Control-Allow-Headers"] = ", ".join(asked)
    if config.credentials:
        out["Access-Control-Allow-Credentials"] = "true"
    if config.max_age is not None:
        out["Access-Control-Max-Age"] = str(config.max_age)
    return response
