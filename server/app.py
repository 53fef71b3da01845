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
    """A list of async callbacks sent in order; frozen when the application starts."""

    __slots__ = ("_frozen", "_receivers")

    def __init__(self) -> None:
        self._receivers: list[Callable[P, Awaitable[object]]] = []
        self._frozen = False

    def _check(self) -> None:
        if self._frozen:
            raise RuntimeError("cannot change a signal of a running application")

    def append(self, receiver: Callable[P, Awaitable[object]]) -> None:
        self._check()
        self._receivers.append(receiver)

    def insert(self, index: int, receiver: Callable[P, Awaitable[object]]) -> None:
        self._check()
        self._receivers.insert(index, receiver)

    def remove(self, receiver: Callable[P, Awaitable[object]]) -> None:
        self._check()
        self._receivers.remove(receiver)

    def freeze(self) -> None:
        self._frozen = True

    def __len__(self) -> int:
        return len(self._receivers)

    def __iter__(self) -> Iterator[Callable[P, Awaitable[object]]]:
        return iter(self._receivers)

    async def send(self, *args: P.args, **kwargs: P.kwargs) -> None:
        for receiver in self._receivers:
            await receiver(*args, **kwargs)


class AppKey(Generic[T]):
    """A typed key for application state: ``app[DB] = db`` then ``app[DB]`` is typed."""

    __slots__ = ("name", "type")

    def __init__(self, name: str, t: type[T] | None = None) -> None:
        self.name = name
        self.type = t

    def __repr__(self) -> str:
        return f"<AppKey {self.name}>"


class CleanupError(RuntimeError):
    """One or more cleanup callbacks failed; ``args[1]`` lists the exceptions."""


CleanupContext = Callable[["Application"], AsyncIterator[None]]


class Application(MutableMapping["str | AppKey[Any]", Any]):
    """An HTTP application.

    ``client_max_size`` bounds every request body (413 beyond it; ``None`` lifts the
    bound, for handlers that stream uploads through ``request.content``). Connection
    limits and timeouts belong to the server, see ``AppRunner``.
    """

    def __init__(
        self,
        *,
        middlewares: Iterable[Middleware] = (),
        client_max_size: int | None = 1024**2,
        logger: logging.Logger = logger,
    ) -> None:
        self._state: dict[str | AppKey[Any], Any] = {}
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

    # -- composition ---------------------------------------------------------------

    def add_routes(self, routes: Iterable[Any]) -> None:
        self.router.add_routes(routes)

    def add_subapp(self, prefix: str, subapp: Application) -> None:
        """Mount ``subapp`` below ``prefix``; its signals run with this application's."""
        if subapp._frozen:
            raise RuntimeError("the sub-application is already running")
        self.router.add_subapp(prefix, subapp)
        self._subapps.append(subapp)

    @property
    def frozen(self) -> bool:
        return self._frozen

    def freeze(self, parents: tuple[Application, ...] = ()) -> None:
        """Lock routes and signals; wrap each handler in the middlewares of its chain."""
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
        for ctx in self.cleanup_ctx:
            iterator = ctx(self)
            await anext(iterator)
            self._running_ctx.append(iterator)
        await self.on_startup.send(self)
        for subapp in self._subapps:
            await subapp.startup()
        self._serving = True

    async def shutdown(self) -> None:
        await self.on_shutdown.send(self)
        for subapp in self._subapps:
            await subapp.shutdown()

    async def cleanup(self) -> None:
        """Run every cleanup step even if some fail, then raise ``CleanupError``."""
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
