"""The Application: routes, middlewares, shared state, lifecycle signals, sub-apps.

Lifecycle order (``AppRunner`` drives it):

* startup: ``cleanup_ctx`` generators run to their ``yield`` (in order), then the
  ``on_startup`` handlers, then the same for each sub-application;
* shutdown: ``on_shutdown`` handlers, sub-applications after their parent;
* cleanup: sub-applications first (reverse order), then ``on_cleanup`` handlers, then the
  ``cleanup_ctx`` generators resume after their ``yield`` in reverse order, so what was
  set up first is torn down last.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from tidewire.server.exceptions import HTTPException
from tidewire.server.middleware import Handler, Middleware, wrap
from tidewire.server.router import MatchInfo, UrlDispatcher, not_found

if TYPE_CHECKING:
    from tidewire.server.request import Request
    from tidewire.server.response import StreamResponse

__all__ = ["AppKey", "Application", "CleanupError", "Signal"]

logger = logging.getLogger("tidewire.server")

P = ParamSpec("P")
T = TypeVar("T")


class Signal(Generic[P]):
    """A list of async callbacks that ``send`` awaits one after the other, in order.

    ``app.on_startup.append(start_db)``: the application's lifecycle hooks are signals.
    Unlike aiohttp's (a ``FrozenList``), a signal is no list: it offers ``append``,
    ``insert`` and ``remove``, ``len()`` and iteration. Once the application starts, the
    signal is frozen, and changing it raises ``RuntimeError``.
    """

    __slots__ = ("_frozen", "_receivers")

    def __init__(self) -> None:
        self._receivers: list[Callable[P, Awaitable[object]]] = []
        self._frozen = False

    def _check(self) -> None:
        if self._frozen:
            raise RuntimeError("cannot change a signal of a running application")

    def append(self, receiver: Callable[P, Awaitable[object]]) -> None:
        """Add ``receiver`` last; ``RuntimeError`` once the signal is frozen."""
        self._check()
        self._receivers.append(receiver)

    def insert(self, index: int, receiver: Callable[P, Awaitable[object]]) -> None:
        """Add ``receiver`` at ``index``, as ``list.insert`` does; ``RuntimeError`` once
        the signal is frozen."""
        self._check()
        self._receivers.insert(index, receiver)

    def remove(self, receiver: Callable[P, Awaitable[object]]) -> None:
        """Remove ``receiver``; ``ValueError`` if it is not there, ``RuntimeError`` once
        the signal is frozen."""
        self._check()
        self._receivers.remove(receiver)

    def freeze(self) -> None:
        """Refuse changes from now on; the application calls it when it starts."""
        self._frozen = True

    def __len__(self) -> int:
        return len(self._receivers)

    def __iter__(self) -> Iterator[Callable[P, Awaitable[object]]]:
        return iter(self._receivers)

    async def send(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Await every receiver with these arguments, in order.

        An exception from a receiver propagates at once: the receivers after it do not
        run. (``Application.cleanup`` is the exception: it runs every ``on_cleanup``
        receiver and reports the failures together.)
        """
        for receiver in self._receivers:
            await receiver(*args, **kwargs)


class AppKey(Generic[T]):
    """A typed key for application state, as aiohttp's ``web.AppKey``.

    ``DB = AppKey("DB", Database)`` at module level, then ``app[DB] = db`` in a startup
    hook, and ``request.app[DB]`` is a ``Database`` for the type checker. ``name`` shows
    in ``repr``; ``t`` (the value's type) is only kept for introspection, never checked.
    """

    __slots__ = ("name", "type")

    def __init__(self, name: str, t: type[T] | None = None) -> None:
        self.name = name
        self.type = t

    def __repr__(self) -> str:
        return f"<AppKey {self.name}>"


class CleanupError(RuntimeError):
    """Raised by ``Application.cleanup`` (and so ``AppRunner.cleanup``) when one or more
    cleanup steps failed; ``args[1]`` lists their exceptions, in the order they ran.

    Every step runs even when an earlier one fails, so one broken teardown does not leak
    the resources of the others.
    """


CleanupContext = Callable[["Application"], AsyncIterator[None]]


def debug_from_env() -> bool:
    """Whether ``TIDEWIRE_DEBUG`` asks for debug mode (set, and not ``0`` or empty)."""
    return os.environ.get("TIDEWIRE_DEBUG", "") not in ("", "0")


class Application(MutableMapping["str | AppKey[Any]", Any]):
    """An HTTP application: its routes, middlewares, shared state and lifecycle hooks.

    Used as in aiohttp::

        app = Application()
        app.router.add_get("/", hello)
        app.on_startup.append(open_db)
        run_app(app)

    The application is also a mapping for state shared by its handlers (``app["db"]``,
    or typed with an ``AppKey``); set it up before the application runs (in
    ``on_startup`` or a ``cleanup_ctx``), since assigning to a running application warns.

    ``middlewares`` wrap every handler of this application and of its sub-applications
    (see ``Middleware``), the first one outermost. ``client_max_size`` bounds the body
    that ``request.read()``, ``text()``, ``json()`` and ``post()`` take in bytes: past it
    they raise 413 (``HTTPRequestEntityTooLarge``), at once when ``Content-Length``
    announces it. ``request.content`` and ``request.multipart()`` are not bounded:
    a handler that streams an upload decides how much it takes. ``None`` lifts the
    bound. ``logger`` receives the errors of handlers. ``debug=True`` (or
    ``TIDEWIRE_DEBUG=1`` in the environment, or ``run_app(debug=True)``) turns on
    asyncio's debug mode in the loop that serves it (slow callbacks are logged, with
    where their task was created) and answers an unhandled exception with an HTML page
    showing its traceback, instead of a plain 500: never in production, since the page
    shows your code to whoever asks. Connection limits and timeouts belong to the
    server, see ``AppRunner``; there is no ``loop`` or ``handler_args`` argument.

    The lifecycle signals (``on_startup``, ``on_shutdown``, ``on_cleanup``) receive the
    application; ``on_response_prepare`` receives the request and the response just
    before its head is sent, and may still change the headers. ``cleanup_ctx`` holds
    async generator functions that set up to their ``yield`` and tear down after it (see
    the module docstring for the order).
    """

    def __init__(
        self,
        *,
        middlewares: Iterable[Middleware] = (),
        client_max_size: int | None = 1024**2,
        logger: logging.Logger = logger,
        debug: bool | None = None,
    ) -> None:
        self._state: dict[str | AppKey[Any], Any] = {}
        self.debug = debug_from_env() if debug is None else debug
        self.router = UrlDispatcher()
        self.middlewares: tuple[Middleware, ...] = tuple(middlewares)
        self.client_max_size = client_max_size
        self.logger = logger
        self.on_startup: Signal[[Application]] = Signal()
        self.on_shutdown: Signal[[Application]] = Signal()
        self.on_cleanup: Signal[[Application]] = Signal()
        self.on_response_prepare: Signal[[Request, StreamResponse]] = Signal()
        self.cleanup_ctx: list[CleanupContext] = []
        self._subapps: list[Application] = []
        self._running_ctx: list[AsyncIterator[None]] = []
        self._frozen = False
        self._serving = False  # startup finished: from now on state is read-only
        self._apps: tuple[Application, ...] = (self,)
        self._prepare_signals: tuple[Signal[[Request, StreamResponse]], ...] = ()

    # -- state --------------------------------------------------------------------

    @overload
    def __getitem__(self, key: AppKey[T]) -> T: ...

    @overload
    def __getitem__(self, key: str) -> Any: ...

    def __getitem__(self, key: str | AppKey[Any]) -> Any:
        return self._state[key]

    def __setitem__(self, key: str | AppKey[Any], value: Any) -> None:
        # Startup signals and cleanup contexts are where resources get stored.
        if self._serving:
            warnings.warn(
                "changing the state of a running application is not safe",
                RuntimeWarning,
                stacklevel=2,
            )
        self._state[key] = value

    def __delitem__(self, key: str | AppKey[Any]) -> None:
        del self._state[key]

    def __len__(self) -> int:
        return len(self._state)

    def __iter__(self) -> Iterator[str | AppKey[Any]]:
        return iter(self._state)

    __hash__ = object.__hash__

    def __eq__(self, other: object) -> bool:
        return self is other

    def __repr__(self) -> str:
        return f"<Application {len(self.router)} resources>"

    def __call__(self) -> Application:
        """The application itself: gunicorn refuses an application object that is not
        callable, so ``gunicorn module:app --worker-class tidewire.server.GunicornWorker``
        needs this to accept an ``Application`` as well as a factory of one."""
        return self

    # -- composition ---------------------------------------------------------------

    def add_routes(self, routes: Iterable[Any]) -> None:
        """``self.router.add_routes(routes)``: a ``RouteTableDef``, or the route
        definitions of a list."""
        self.router.add_routes(routes)

    def add_subapp(self, prefix: str, subapp: Application) -> None:
        """Mount ``subapp`` below ``prefix``; its signals run with this application's.

        Requests under ``prefix`` go to the sub-application's router, with ``prefix``
        removed from the path it matches, and its handlers run inside this application's
        middlewares, then its own. ``request.app`` is then the sub-application, and
        ``request.config_dict`` sees the state of both.

        Raises ``ValueError`` when ``prefix`` is ``/`` or does not start with ``/``, and
        ``RuntimeError`` when either application is already running.
        """
        if subapp._frozen:
            raise RuntimeError("the sub-application is already running")
        self.router.add_subapp(prefix, subapp)
        self._subapps.append(subapp)

    @property
    def frozen(self) -> bool:
        """Whether ``freeze()`` ran: routes, middlewares and signals no longer change."""
        return self._frozen

    def freeze(self, parents: tuple[Application, ...] = ()) -> None:
        """Lock routes and signals; wrap each handler in the middlewares of its chain.

        ``AppRunner.setup`` calls it; calling it again does nothing. ``parents`` is for
        sub-applications: the applications they are mounted in, outermost first.
        """
        if self._frozen:
            return
        self._frozen = True
        self._apps = (*parents, self)
        self._prepare_signals = tuple(
            app.on_response_prepare for app in self._apps if app.on_response_prepare
        )
        for signal in (
            self.on_startup,
            self.on_shutdown,
            self.on_cleanup,
            self.on_response_prepare,
        ):
            signal.freeze()
        self.router.freeze(self._apps)

    # -- request dispatch ------------------------------------------------------------

    def _resolve(self, request: Request) -> Handler:
        """The handler chain for ``request``; also sets ``request.match_info`` and ``.app``."""
        match, allowed = self.router.resolve_path(request.method, request.path)
        if match is None:
            exc = not_found(request.method, allowed)
            match = MatchInfo(
                {}, None, _raiser(exc), wrap(_raiser(exc), self.middlewares), self._apps
            )
        request._match_info = match
        request._app = match.apps[-1] if match.apps else self
        return match._call

    # -- lifecycle -------------------------------------------------------------------

    async def startup(self) -> None:
        """Run the ``cleanup_ctx`` generators to their ``yield``, then ``on_startup``,
        then the same in each sub-application.

        ``AppRunner.setup`` calls it; an exception from a hook propagates and the
        application does not serve.
        """
        for ctx in self.cleanup_ctx:
            iterator = ctx(self)
            await anext(iterator)
            self._running_ctx.append(iterator)
        await self.on_startup.send(self)
        for subapp in self._subapps:
            await subapp.startup()
        self._serving = True

    async def shutdown(self) -> None:
        """Send ``on_shutdown``, then the same in each sub-application.

        ``AppRunner.cleanup`` calls it after the server stopped listening and before it
        closes the open connections: the hooks may still reach the clients (for example
        through a ``Hub``).
        """
        await self.on_shutdown.send(self)
        for subapp in self._subapps:
            await subapp.shutdown()

    async def cleanup(self) -> None:
        """Tear down: sub-applications (last mounted first), ``on_cleanup``, then the
        ``cleanup_ctx`` generators after their ``yield``, last started first.

        Every step runs even if some fail; then ``CleanupError`` lists the failures. A
        generator that yields a second time counts as a failure.
        """
        errors: list[BaseException] = []
        for subapp in reversed(self._subapps):
            try:
                await subapp.cleanup()
            except Exception as exc:
                errors.append(exc)
        for receiver in self.on_cleanup:
            try:
                await receiver(self)
            except Exception as exc:
                errors.append(exc)
        while self._running_ctx:
            iterator = self._running_ctx.pop()
            try:
                await anext(iterator)
            except StopAsyncIteration:
                continue
            except Exception as exc:
                errors.append(exc)
                continue
            errors.append(RuntimeError(f"cleanup context {iterator!r} yielded more than once"))
        if errors:
            raise CleanupError("cleanup failed", errors)


def _raiser(exc: HTTPException) -> Handler:
    async def handler(request: Request) -> StreamResponse:
        raise exc

    return handler
