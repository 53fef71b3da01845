"""URL dispatch: plain paths, ``{name}``/``{name:regex}`` patterns, static files, sub-apps,
and the three ways aiohttp users declare routes: ``app.router.add_get(...)``, a
``RouteTableDef`` of decorators, and a list of ``get(...)``/``post(...)``/``view(...)``
definitions for ``app.add_routes([...])``. A ``View`` class answers each method with the
method of the same name.

Plain paths are found with one dict lookup and win over patterns; patterns, static
prefixes and sub-applications are then tried in registration order. ``HEAD`` is served
by the ``GET`` handler wherever no ``HEAD`` handler is registered. Middlewares are
wrapped around each handler once, when the application freezes, not per request.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, unquote

from yarl import URL

from tidewire.server.exceptions import (
    HTTPException,
    HTTPForbidden,
    HTTPMethodNotAllowed,
    HTTPNotFound,
)
from tidewire.server.middleware import Handler, wrap
from tidewire.server.response import FileResponse, StreamResponse

if TYPE_CHECKING:
    from tidewire.server.app import Application
    from tidewire.server.request import Request

__all__ = [
    "MatchInfo",
    "Resource",
    "Route",
    "RouteDef",
    "RouteTableDef",
    "StaticDef",
    "UrlDispatcher",
    "View",
    "delete",
    "get",
    "head",
    "options",
    "patch",
    "post",
    "put",
    "route",
    "static",
    "view",
]

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})
_PARAM = re.compile(r"\{(?P<name>[A-Za-z_]\w*)(?::(?P<regex>(?:[^{}]|\{[^{}]*\})+))?\}")


class MatchInfo(dict[str, str]):
    """What routing found for a request: ``request.match_info``.

    As a dict it holds the path parameters, percent-decoded: ``/users/{id}`` matched by
    ``/users/42`` gives ``request.match_info["id"] == "42"``; a static route has
    ``"filename"``. ``handler`` is the route's handler as registered (without the
    middlewares), ``resource`` the matched resource (``None`` when nothing matched and
    the request is answered with 404 or 405), ``apps`` the applications from the root to
    the one that owns the route.
    """

    __slots__ = ("_call", "apps", "handler", "resource")

    def __init__(
        self,
        params: dict[str, str],
        resource: Resource | None,
        handler: Handler,
        call: Handler,
        apps: tuple[Application, ...],
    ) -> None:
        super().__init__(params)
        self.resource = resource
        self.handler = handler
        self._call = call
        self.apps = apps

    @property
    def route_name(self) -> str | None:
        """The ``name=`` the route was added with, if any."""
        return self.resource.name if self.resource is not None else None


@dataclass(frozen=True)
class Route:
    method: str
    handler: Handler
    resource: Resource


class Resource:
    """Handlers by method for one path; subclasses decide which paths match."""

    __slots__ = ("_calls", "_handlers", "apps", "name", "url_prefix")

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self._handlers: dict[str, Handler] = {}
        self._calls: dict[str, Handler] = {}
        self.apps: tuple[Application, ...] = ()
        # Where the resource's application is mounted (the sub-application prefixes
        # above it): ``url_for`` builds the path a client requests, with it.
        self.url_prefix = ""

    def add_route(self, method: str, handler: Handler) -> Route:
        method = method.upper()
        if method != "*" and method not in METHODS:
            raise ValueError(f"unknown HTTP method {method!r}")
        if method in self._handlers:
            raise RuntimeError(f"{method} {self} already has a handler")
        self._handlers[method] = self._calls[method] = handler
        return Route(method, handler, self)

    def freeze(self, apps: tuple[Application, ...]) -> None:
        self.apps = apps
        middlewares = tuple(mw for app in apps for mw in app.middlewares)
        self._calls = {m: wrap(h, middlewares) for m, h in self._handlers.items()}

    def allowed_methods(self) -> set[str]:
        methods = set(self._handlers)
        if "GET" in methods:
            methods.add("HEAD")
        return methods

    def match(self, method: str, params: dict[str, str]) -> MatchInfo | None:
        """The match for ``method`` on a path this resource accepts, if it has a handler."""
        key = method
        call = self._calls.get(key)
        if call is None and method == "HEAD":
            key = "GET"
            call = self._calls.get(key)
        if call is None:
            key = "*"
            call = self._calls.get(key)
            if call is None:
                return None
        return MatchInfo(params, self, self._handlers[key], call, self.apps)

    def resolve(self, method: str, path: str) -> tuple[MatchInfo | None, set[str]]:
        """The match for ``path``, or the methods allowed if only the method is wrong."""
        raise NotImplementedError

    def url_for(self, **params: str) -> URL:
        raise NotImplementedError


class PlainResource(Resource):
    __slots__ = ("path",)

    def __init__(self, path: str, name: str | None = None) -> None:
        super().__init__(name)
        self.path = path

    def resolve(self, method: str, path: str) -> tuple[MatchInfo | None, set[str]]:
        if path != self.path:
            return None, set()
        match = self.match(method, {})
        return match, set() if match else self.allowed_methods()

    def url_for(self, **params: str) -> URL:
        return URL.build(path=self.url_prefix + self.path)

    def __repr__(self) -> str:
        return f"<PlainResource {self.path}>"


class DynamicResource(Resource):
    """A path with ``{name}`` (one segment) or ``{name:regex}`` parameters."""

    __slots__ = ("_format", "_pattern", "path")

    def __init__(self, path: str, name: str | None = None) -> None:
        super().__init__(name)
        self.path = path
        pattern, fmt, last = "", "", 0
        for param in _PARAM.finditer(path):
            literal = path[last : param.start()]
            pattern += re.escape(literal)
            fmt += literal.replace("{", "{{").replace("}", "}}")
            regex = param.group("regex") or "[^{}/]+"
            pattern += f"(?P<{param.group('name')}>{regex})"
            fmt += "{" + param.group("name") + "}"
            last = param.end()
        tail = path[last:]
        if "{" in tail or "}" in tail:
            raise ValueError(f"malformed route pattern {path!r}")
        self._pattern = re.compile(pattern + re.escape(tail))
        self._format = fmt + tail

    def resolve(self, method: str, path: str) -> tuple[MatchInfo | None, set[str]]:
        found = self._pattern.fullmatch(path)
        if found is None:
            return None, set()
        match = self.match(method, found.groupdict())
        return match, set() if match else self.allowed_methods()

    def url_for(self, **params: str) -> URL:
        quoted = {key: quote(str(value), safe="") for key, value in params.items()}
        return URL.build(path=self.url_prefix + self._format.format_map(quoted), encoded=True)

    def __repr__(self) -> str:
        return f"<DynamicResource {self.path}>"


class StaticResource(Resource):
    """Files under ``directory`` served below ``prefix``.

    The raw (still percent-encoded) path is split on ``/`` before decoding, so an encoded
    slash cannot join segments; ``.``/``..`` segments are refused, and unless
    ``follow_symlinks`` the resolved file must lie inside ``directory``.
    """

    __slots__ = ("_directory", "_follow_symlinks", "prefix")

    def __init__(
        self,
        prefix: str,
        directory: str | os.PathLike[str],
        *,
        name: str | None = None,
        follow_symlinks: bool = False,
    ) -> None:
        super().__init__(name)
        if quote(prefix, safe="/") != prefix:
            raise ValueError(f"static prefix {prefix!r} must not need percent-encoding")
        self.prefix = prefix.rstrip("/")
        self._directory = Path(directory).resolve(strict=True)
        if not self._directory.is_dir():
            raise ValueError(f"{directory!r} is not a directory")
        self._follow_symlinks = follow_symlinks
        self.add_route("GET", self._serve)

    def resolve(self, method: str, path: str) -> tuple[MatchInfo | None, set[str]]:
        if not path.startswith(self.prefix + "/"):
            return None, set()
        match = self.match(method, {"filename": path[len(self.prefix) + 1 :]})
        return match, set() if match else self.allowed_methods()

    def url_for(self, **params: str) -> URL:
        filename = params.get("filename", "")
        path = f"{self.url_prefix}{self.prefix}/{quote(filename, safe='/')}"
        return URL.build(path=path, encoded=True)

    async def _serve(self, request: Request) -> StreamResponse:
        raw = request.raw_path.partition("?")[0]
        base = self.url_prefix + self.prefix  # the raw path still has the mount prefixes
        if not raw.startswith(base + "/"):
            raise HTTPNotFound()
        parts = [unquote(segment) for segment in raw[len(base) + 1 :].split("/")]
        for part in parts:
            if part in ("", ".", "..") or "/" in part or "\\" in part or "\x00" in part:
                raise HTTPNotFound()
        target = self._directory.joinpath(*parts)
        resolved = target.resolve()
        if not self._follow_symlinks and not resolved.is_relative_to(self._directory):
            raise HTTPNotFound()
        if resolved.is_dir():
            raise HTTPForbidden()
        return FileResponse(resolved)

    def __repr__(self) -> str:
        return f"<StaticResource {self.prefix} -> {self._directory}>"


class SubAppResource(Resource):
    """Everything below ``prefix`` is routed by a sub-application's router."""

    __slots__ = ("app", "prefix")

    def __init__(self, prefix: str, app: Application) -> None:
        super().__init__()
        self.prefix = prefix.rstrip("/")
        self.app = app

    def resolve(self, method: str, path: str) -> tuple[MatchInfo | None, set[str]]:
        if not path.startswith(self.prefix + "/"):
            return None, set()
        return self.app.router.resolve_path(method, path[len(self.prefix) :])

    def freeze(self, apps: tuple[Application, ...]) -> None:
        self.app.freeze(apps)

    def mount(self, url_prefix: str) -> None:
        """Its router's resources build their URLs below ``url_prefix`` + ``prefix``."""
        self.url_prefix = url_prefix
        self.app.router.mount(url_prefix + self.prefix)

    def __repr__(self) -> str:
        return f"<SubAppResource {self.prefix}>"


class UrlDispatcher:
    """The router of one application: ``app.router``.

    Routes are added before the application starts (adding one later raises
    ``RuntimeError``), with ``add_get`` and its siblings, ``add_route`` for any method
    (``"*"`` for all of them), ``add_static``, or ``add_routes`` with a
    ``RouteTableDef``. A path is either plain (``/about``) or has parameters: ``{name}``
    matches one segment, ``{name:regex}`` what the regular expression matches (it may
    span slashes: ``{tail:.*}``). A request whose path matches no route gets 404, one
    whose path matches only for other methods 405 with ``Allow``.

    Named routes are looked up with ``router[name]``, whose ``url_for(**params)``
    builds their URL (with the prefixes of the sub-applications it is mounted in).
    Iterating the router gives its resources in registration order. Unlike aiohttp
    there is no ``allow_head=`` (``HEAD`` is always served by the ``GET`` handler
    unless a ``HEAD`` route exists) and no ``expect_handler``.
    """

    __slots__ = ("_frozen", "_named", "_plain", "_resources", "_searched", "_url_prefix")

    def __init__(self) -> None:
        self._plain: dict[str, PlainResource] = {}
        self._searched: list[Resource] = []
        self._resources: list[Resource] = []
        self._named: dict[str, Resource] = {}
        self._frozen = False
        self._url_prefix = ""  # the prefixes this router's application is mounted below

    def _check_open(self) -> None:
        if self._frozen:
            raise RuntimeError("cannot add routes to a running application")

    def _register(self, resource: Resource) -> None:
        self._check_open()
        if resource.name is not None:
            if resource.name in self._named:
                raise ValueError(f"duplicate route name {resource.name!r}")
            self._named[resource.name] = resource
        self._resources.append(resource)
        self._mount(resource)
        if isinstance(resource, PlainResource):
            self._plain[resource.path] = resource
        else:
            self._searched.append(resource)

    def add_resource(self, path: str, *, name: str | None = None) -> Resource:
        """The resource for ``path``, to add routes of several methods to with its
        ``add_route(method, handler)``.

        An unnamed plain path already registered gives back the same resource. Raises
        ``ValueError`` when ``path`` does not start with ``/``, a pattern is malformed, or
        ``name`` is taken; ``RuntimeError`` once the application runs.
        """
        if not path.startswith("/"):
            raise ValueError(f"route path must start with '/': {path!r}")
        if "{" not in path:
            existing = self._plain.get(path)
            if existing is not None and name is None:
                self._check_open()  # a route added to it now would miss the middlewares
                return existing
            resource: Resource = PlainResource(path, name)
        else:
            resource = DynamicResource(path, name)
        self._register(resource)
        return resource

    def add_route(
        self, method: str, path: str, handler: Handler, *, name: str | None = None
    ) -> Route:
        """Route ``method`` requests to ``path`` to ``handler``; ``name`` makes the route
        available as ``router[name]``.

        ``method`` is any of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS and TRACE (in
        any case), or ``"*"`` for every method without a route of its own. Raises
        ``ValueError`` for another method or a bad path (see ``add_resource``) and
        ``RuntimeError`` when the path already has a handler for ``method``.
        """
        return self.add_resource(path, name=name).add_route(method, handler)

    def add_get(self, path: str, handler: Handler, *, name: str | None = None) -> Route:
        """A GET route; HEAD requests to it are answered by the same handler."""
        return self.add_route("GET", path, handler, name=name)

    def add_head(self, path: str, handler: Handler, *, name: str | None = None) -> Route:
        """``add_route("HEAD", ...)``."""
        return self.add_route("HEAD", path, handler, name=name)

    def add_post(self, path: str, handler: Handler, *, name: str | None = None) -> Route:
        """``add_route("POST", ...)``."""
        return self.add_route("POST", path, handler, name=name)

    def add_put(self, path: str, handler: Handler, *, name: str | None = None) -> Route:
        """``add_route("PUT", ...)``."""
        return self.add_route("PUT", path, handler, name=name)

    def add_patch(self, path: str, handler: Handler, *, name: str | None = None) -> Route:
        """``add_route("PATCH", ...)``."""
        return self.add_route("PATCH", path, handler, name=name)

    def add_delete(self, path: str, handler: Handler, *, name: str | None = None) -> Route:
        """``add_route("DELETE", ...)``."""
        return self.add_route("DELETE", path, handler, name=name)

    def add_options(self, path: str, handler: Handler, *, name: str | None = None) -> Route:
        """``add_route("OPTIONS", ...)``."""
        return self.add_route("OPTIONS", path, handler, name=name)

    def add_view(self, path: str, handler: type[View], *, name: str | None = None) -> Route:
        """Route every method on ``path`` to the ``View`` subclass ``handler``, which
        answers 405 for the methods it does not define."""
        return self.add_route("*", path, handler, name=name)

    def add_static(
        self,
        prefix: str,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        follow_symlinks: bool = False,
    ) -> StaticResource:
        """Serve the files under the directory ``path`` at ``prefix/<file>``, with GET and
        HEAD, through ``FileResponse`` (ranges, conditional GET, ``sendfile``).

        A path with a ``.`` or ``..`` segment or an encoded slash, one that leads out of
        the directory through a symbolic link (unless ``follow_symlinks``), or one that
        names no file gets 404; a directory gets 403: there are no listings (aiohttp's
        ``show_index``), and no ``append_version``. The ``url_for`` of a named static resource takes
        ``filename=``. Raises ``ValueError`` when ``path`` is not a directory or
        ``prefix`` would need percent-encoding, ``FileNotFoundError`` when ``path`` does
        not exist.
        """
        resource = StaticResource(prefix, path, name=name, follow_symlinks=follow_symlinks)
        self._register(resource)
        return resource

    def _mount(self, resource: Resource) -> None:
        if isinstance(resource, SubAppResource):
            resource.mount(self._url_prefix)
        else:
            resource.url_prefix = self._url_prefix

    def mount(self, url_prefix: str) -> None:
        """This router's application is mounted below ``url_prefix`` (the sub-application
        prefixes from the root application down): the ``url_for`` of its resources, and
        of those added later, includes it, as a client must request it."""
        self._url_prefix = url_prefix
        for resource in self._resources:
            self._mount(resource)

    def add_subapp(self, prefix: str, app: Application) -> SubAppResource:
        """Route the paths below ``prefix`` to ``app``'s router; use
        ``Application.add_subapp``, which also runs the sub-application's signals."""
        if not prefix.startswith("/") or prefix == "/":
            raise ValueError(
                f"sub-application prefix must start with '/' and not be '/': {prefix!r}"
            )
        if quote(prefix, safe="/") != prefix:
            raise ValueError(f"sub-application prefix {prefix!r} must not need percent-encoding")
        resource = SubAppResource(prefix, app)
        self._register(resource)
        return resource

    def add_routes(self, routes: Iterable[RouteDef | StaticDef]) -> list[Route]:
        """Add the routes a ``RouteTableDef`` collected; returns the routes added (static
        directories aside). Raises what ``add_route`` and ``add_static`` raise."""
        added = []
        for route in routes:
            if isinstance(route, StaticDef):
                self.add_static(route.prefix, route.path, **route.kwargs)
            else:
                added.append(
                    self.add_route(route.method, route.path, route.handler, **route.kwargs)
                )
        return added

    def __getitem__(self, name: str) -> Resource:
        return self._named[name]

    def __iter__(self) -> Iterator[Resource]:
        return iter(self._resources)

    def __len__(self) -> int:
        return len(self._resources)

    def freeze(self, apps: tuple[Application, ...]) -> None:
        """Bind every resource to its application chain and wrap the middlewares."""
        self._frozen = True
        for resource in self._resources:
            resource.freeze(apps)

    def resolve_path(self, method: str, path: str) -> tuple[MatchInfo | None, set[str]]:
        """The match for ``method path``, or the methods allowed on the path (empty: 404)."""
        allowed: set[str] = set()
        plain = self._plain.get(path)
        if plain is not None:
            match = plain.match(method, {})
            if match is not None:
                return match, allowed
            allowed |= plain.allowed_methods()
        for resource in self._searched:
            match, methods = resource.resolve(method, path)
            if match is not None:
                return match, allowed
            allowed |= methods
        return None, allowed


@dataclass(frozen=True)
class RouteDef:
    """A route declared before there is a router: ``add_routes`` adds it with
    ``add_route(method, path, handler, **kwargs)``."""

    method: str
    path: str
    handler: Handler
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StaticDef:
    """A static directory declared before there is a router: ``add_routes`` adds it
    with ``add_static(prefix, path, **kwargs)``."""

    prefix: str
    path: str | os.PathLike[str]
    kwargs: dict[str, Any] = field(default_factory=dict)


def route(method: str, path: str, handler: Handler, **kwargs: Any) -> RouteDef:
    """A route for ``app.add_routes([...])``: ``method`` requests to ``path`` go to
    ``handler``; ``kwargs`` (``name=``) are ``UrlDispatcher.add_route``'s."""
    return RouteDef(method, path, handler, kwargs)


def get(path: str, handler: Handler, **kwargs: Any) -> RouteDef:
    """``route("GET", path, handler, **kwargs)`` (it also answers HEAD)."""
    return route("GET", path, handler, **kwargs)


def head(path: str, handler: Handler, **kwargs: Any) -> RouteDef:
    """``route("HEAD", path, handler, **kwargs)``."""
    return route("HEAD", path, handler, **kwargs)


def post(path: str, handler: Handler, **kwargs: Any) -> RouteDef:
    """``route("POST", path, handler, **kwargs)``."""
    return route("POST", path, handler, **kwargs)


def put(path: str, handler: Handler, **kwargs: Any) -> RouteDef:
    """``route("PUT", path, handler, **kwargs)``."""
    return route("PUT", path, handler, **kwargs)


def patch(path: str, handler: Handler, **kwargs: Any) -> RouteDef:
    """``route("PATCH", path, handler, **kwargs)``."""
    return route("PATCH", path, handler, **kwargs)


def delete(path: str, handler: Handler, **kwargs: Any) -> RouteDef:
    """``route("DELETE", path, handler, **kwargs)``."""
    return route("DELETE", path, handler, **kwargs)


def options(path: str, handler: Handler, **kwargs: Any) -> RouteDef:
    """``route("OPTIONS", path, handler, **kwargs)``."""
    return route("OPTIONS", path, handler, **kwargs)


def view(path: str, handler: type[View], **kwargs: Any) -> RouteDef:
    """Every method on ``path`` to the ``View`` subclass ``handler`` (``add_view``)."""
    return route("*", path, handler, **kwargs)


def static(prefix: str, path: str | os.PathLike[str], **kwargs: Any) -> StaticDef:
    """The directory ``path`` served at ``prefix``; ``kwargs`` (``name=``,
    ``follow_symlinks=``) are ``UrlDispatcher.add_static``'s."""
    return StaticDef(prefix, path, kwargs)


class View:
    """A class whose methods answer the HTTP methods of the same name, for a path
    where the methods share setup or state::

        class Users(View):
            async def get(self) -> Response:
                return json_response(await load(self.request.match_info["id"]))

            async def delete(self) -> Response:
                ...

        app.router.add_view("/users/{id}", Users)

    A method it does not define gets 405 with the ``Allow`` header listing those it
    does; HEAD is answered by ``get`` unless it defines ``head``. One instance per
    request, with the request as ``self.request``.
    """

    __slots__ = ("request",)

    def __init__(self, request: Request) -> None:
        self.request = request

    def __await__(self) -> Generator[Any, None, StreamResponse]:
        return self._answer().__await__()

    @classmethod
    def allowed_methods(cls) -> set[str]:
        """The HTTP methods the class answers."""
        allowed = {method for method in METHODS if callable(getattr(cls, method.lower(), None))}
        if "GET" in allowed:
            allowed.add("HEAD")
        return allowed

    async def _answer(self) -> StreamResponse:
        method = self.request.method
        if method in METHODS:
            answer = getattr(self, method.lower(), None)
            if answer is None and method == "HEAD":
                answer = getattr(self, "get", None)
            if callable(answer):
                response: StreamResponse = await answer()
                return response
        raise HTTPMethodNotAllowed(method, self.allowed_methods())


_H = TypeVar("_H", bound=Callable[..., Any])


class RouteTableDef(list[RouteDef | StaticDef]):
    """Routes declared with decorators, added to an application with ``add_routes``::

        routes = RouteTableDef()

        @routes.get("/users/{id}", name="user")
        async def user(request): ...

        app.add_routes(routes)

    Nothing is checked until ``add_routes``: a bad path or method raises there. The
    decorators return the handler (or ``View`` class, with ``view``) unchanged.
    """

    def route(self, method: str, path: str, **kwargs: Any) -> Callable[[_H], _H]:
        """A decorator adding its handler for ``method`` requests to ``path``;
        ``kwargs`` (``name=``) go to ``UrlDispatcher.add_route``."""

        def register(handler: _H) -> _H:
            self.append(route(method, path, handler, **kwargs))
            return handler

        return register

    def view(self, path: str, **kwargs: Any) -> Callable[[type[View]], type[View]]:
        """A class decorator routing every method on ``path`` to its ``View``."""
        return self.route("*", path, **kwargs)

    def options(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        """``route("OPTIONS", path, **kwargs)``."""
        return self.route("OPTIONS", path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        """``route("GET", path, **kwargs)`` (it also answers HEAD)."""
        return self.route("GET", path, **kwargs)

    def head(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        """``route("HEAD", path, **kwargs)``."""
        return self.route("HEAD", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        """``route("POST", path, **kwargs)``."""
        return self.route("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        """``route("PUT", path, **kwargs)``."""
        return self.route("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        """``route("PATCH", path, **kwargs)``."""
        return self.route("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        """``route("DELETE", path, **kwargs)``."""
        return self.route("DELETE", path, **kwargs)

    def static(self, prefix: str, path: str | os.PathLike[str], **kwargs: Any) -> None:
        """Serve the directory ``path`` at ``prefix``; ``kwargs`` (``name=``,
        ``follow_symlinks=``) go to ``UrlDispatcher.add_static``."""
        self.append(static(prefix, path, **kwargs))


def not_found(method: str, allowed: set[str]) -> HTTPException:
    """404, or 405 with ``Allow`` when the path exists for other methods."""
    if allowed:
        return HTTPMethodNotAllowed(method, allowed)
    return HTTPNotFound()
