"""Running an application: ``AppRunner`` + ``TCPSite`` for embedding, ``run_app`` for scripts.

``UnixSite`` listens on a Unix socket (behind nginx on the same machine), ``SockSite``
serves a socket that is already listening (one gunicorn or systemd hands over); the
gunicorn workers (``worker.py``) and ``python -m tidewire.server`` go through the same
``AppRunner`` start and stop as everything here, so there is one shutdown path.

Shutdown order (``AppRunner.cleanup``): stop listening; ``on_shutdown``; close upgraded
connections (WebSockets) with 1001 and idle keep-alive connections; give running
handlers up to ``shutdown_timeout`` seconds, then cancel them; close what is left; then
``on_cleanup`` and the ``cleanup_ctx`` exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import signal
import socket
import ssl
import stat
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from tidewire.server.accesslog import DEFAULT_FORMAT, AccessLogger
from tidewire.server.app import Application, debug_from_env
from tidewire.server.protocol import Limits, Server

__all__ = ["AppRunner", "BaseSite", "SockSite", "TCPSite", "UnixSite", "run_app"]

ACCESS_LOGGER = logging.getLogger("tidewire.access")
"""The default access log: silent until logging shows INFO records of it."""


class AppRunner:
    """Starts and stops one application, for embedding it in a program that runs its own
    event loop (``run_app`` does this for a script)::

        runner = AppRunner(app)
        await runner.setup()
        await TCPSite(runner, "127.0.0.1", 8080).start()
        ...
        await runner.cleanup()

    ``shutdown_timeout`` is how many seconds ``cleanup`` lets running handlers finish
    before it cancels them. ``**limits`` are ``Limits`` fields (``keepalive_timeout``,
    ``head_timeout``, ``max_head_size``, ...): where aiohttp spreads such settings over
    the runner's keyword arguments and the request handler's, tidewire gathers them
    here, and an unknown one raises ``TypeError``. ``access_log`` (a ``logging.Logger``,
    None for none) and ``access_log_format`` are aiohttp's: see
    ``tidewire.server.accesslog``. There is no ``handle_signals`` argument.
    """

    def __init__(
        self,
        app: Application,
        *,
        shutdown_timeout: float = 60.0,
        access_log: logging.Logger | None = ACCESS_LOGGER,
        access_log_format: str = DEFAULT_FORMAT,
        **limits: Any,
    ) -> None:
        self.app = app
        self.shutdown_timeout = shutdown_timeout
        self._limits = Limits(**limits)
        self._access_log = (
            AccessLogger(access_log, access_log_format) if access_log is not None else None
        )
        self._server: Server | None = None
        self._sites: list[BaseSite] = []

    @property
    def server(self) -> Server:
        """The protocol factory the sites listen with; ``RuntimeError`` before ``setup()``
        and after ``cleanup()``."""
        if self._server is None:
            raise RuntimeError("call setup() first")
        return self._server

    @property
    def sites(self) -> tuple[BaseSite, ...]:
        """The started sites, not yet stopped."""
        return tuple(self._sites)

    @property
    def addresses(self) -> list[Any]:
        """The socket addresses the sites listen on (``(host, port)`` for IPv4, a
        4-tuple for IPv6), to learn the port picked for ``port=0``."""
        return [sock.getsockname() for site in self._sites for sock in site.sockets]

    async def setup(self) -> None:
        """Freeze the application and run its startup signals (``Application.startup``);
        their exceptions propagate. Call it once, before starting sites. An
        application in debug mode turns asyncio's debug mode on in this loop."""
        if self.app.debug:
            asyncio.get_running_loop().set_debug(True)
        self.app.freeze()
        await self.app.startup()
        self._server = Server(self.app, self._limits, self._access_log)

    async def cleanup(self) -> None:
        """Shut down gracefully (see the module docstring); nothing to do before
        ``setup()``.

        Raises ``CleanupError`` when cleanup hooks failed, after all of them ran.
        """
        for site in list(self._sites):
            await site.stop()
        if self._server is None:
            return
        try:
            await self.app.shutdown()
        finally:
            await self._server.shutdown(self.shutdown_timeout)
            self._server = None
            await self.app.cleanup()


class BaseSite:
    """What every site does: listen with the runner's protocol factory on ``start()``,
    stop accepting on ``stop()``; the subclasses say where (``_create_server``).

    One base so that ``TCPSite`` and ``SockSite`` start and stop the same way, and the
    runner stops either kind the same way at shutdown.
    """

    def __init__(
        self, runner: AppRunner, *, ssl_context: ssl.SSLContext | None, backlog: int
    ) -> None:
        self._runner = runner
        self._ssl_context = ssl_context
        self._backlog = backlog
        self._server: asyncio.Server | None = None

    async def _create_server(self, loop: asyncio.AbstractEventLoop) -> asyncio.Server:
        raise NotImplementedError

    async def start(self) -> None:
        """Listen; raises ``OSError`` when the address cannot be bound (in use, say) and
        ``RuntimeError`` when the runner is not set up."""
        self._server = await self._create_server(asyncio.get_running_loop())
        self._runner._sites.append(self)

    async def stop(self) -> None:
        """Stop accepting; open connections are the runner's to close."""
        if self._server is not None:
            self._server.close()
            self._server = None
        if self in self._runner._sites:
            self._runner._sites.remove(self)

    @property
    def sockets(self) -> tuple[Any, ...]:
        """The listening sockets; empty before ``start()`` and after ``stop()``."""
        return tuple(self._server.sockets) if self._server is not None else ()

    @property
    def name(self) -> str:
        """The site's base URL, for logs."""
        raise NotImplementedError

    @property
    def _scheme(self) -> str:
        return "https" if self._ssl_context else "http"

    def _unix_name(self, path: str) -> str:
        return f"{self._scheme}://unix:{path}:"


class TCPSite(BaseSite):
    """A listening TCP socket serving the runner's application, after ``start()``.

    ``host`` is an address or name, a list of them, or ``None`` for every interface;
    ``port=0`` lets the OS pick a free port, read back from ``site.port``. With
    ``ssl_context`` the site speaks HTTPS (and WSS). ``backlog``, ``reuse_address`` and
    ``reuse_port`` go to ``loop.create_server``. Several sites may serve one runner.
    Unlike aiohttp, the shutdown timeout is the runner's, not the site's.
    """

    def __init__(
        self,
        runner: AppRunner,
        host: str | list[str] | None = None,
        port: int = 8080,
        *,
        ssl_context: ssl.SSLContext | None = None,
        backlog: int = 128,
        reuse_address: bool | None = None,
        reuse_port: bool | None = None,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._host = host
        self._port = port
        self._reuse_address = reuse_address
        self._reuse_port = reuse_port

    async def _create_server(self, loop: asyncio.AbstractEventLoop) -> asyncio.Server:
        return await loop.create_server(
            self._runner.server,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )

    @property
    def port(self) -> int:
        """The port listened on: the one picked by the OS for ``port=0`` once started."""
        for sock in self.sockets:
            return int(sock.getsockname()[1])
        return self._port

    @property
    def name(self) -> str:
        """The site's base URL, ``http://host:port`` (``https`` with TLS), for logs."""
        host = self._host if isinstance(self._host, str) else "0.0.0.0"
        return f"{self._scheme}://{host}:{self.port}"


class SockSite(BaseSite):
    """Serves a socket someone else bound: gunicorn hands its workers the sockets it
    listens on, systemd's socket activation passes them down as file descriptors.

    ``sock`` is a bound ``socket.socket`` (TCP or Unix); ``start()`` makes it listen
    with ``backlog`` if it does not yet. ``stop()`` closes this process's handle of it,
    which leaves the socket listening in the processes that share it (the other
    workers), so the connections they accept meanwhile are not lost.
    """

    def __init__(
        self,
        runner: AppRunner,
        sock: socket.socket,
        *,
        ssl_context: ssl.SSLContext | None = None,
        backlog: int = 128,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._sock = sock
        self._address = sock.getsockname()  # the socket is closed once stopped

    async def _create_server(self, loop: asyncio.AbstractEventLoop) -> asyncio.Server:
        return await loop.create_server(
            self._runner.server, sock=self._sock, ssl=self._ssl_context, backlog=self._backlog
        )

    @property
    def name(self) -> str:
        """The site's base URL: ``http://host:port``, ``http://[::1]:port`` for IPv6 and
        ``http://unix:/path:`` for a Unix socket (aiohttp's way), for logs."""
        address = self._address
        if isinstance(address, (str, bytes)):
            return self._unix_name(address.decode() if isinstance(address, bytes) else address)
        host = f"[{address[0]}]" if ":" in address[0] else address[0]
        return f"{self._scheme}://{host}:{address[1]}"


class UnixSite(BaseSite):
    """Listens on the Unix socket ``path``: for a reverse proxy on the same machine
    (nginx's ``proxy_pass http://unix:/run/app.sock``), which saves the TCP stack and a
    port. A stale socket file left by a crashed run is replaced; ``stop()`` removes the
    file. ``request.remote`` is then empty (None): the peer has no address.
    """

    def __init__(
        self,
        runner: AppRunner,
        path: str | os.PathLike[str],
        *,
        ssl_context: ssl.SSLContext | None = None,
        backlog: int = 128,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._path = os.fspath(path)

    async def _create_server(self, loop: asyncio.AbstractEventLoop) -> asyncio.Server:
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.stat(self._path).st_mode):
                os.unlink(self._path)  # left by a run that did not stop cleanly
        return await loop.create_unix_server(
            self._runner.server, self._path, ssl=self._ssl_context, backlog=self._backlog
        )

    async def stop(self) -> None:
        """Stop accepting and remove the socket file."""
        started = self._server is not None
        await super().stop()
        if started:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)

    @property
    def name(self) -> str:
        """``http://unix:/path:``, aiohttp's way of naming it, for logs."""
        return self._unix_name(self._path)


def _loop_factory(use_uvloop: bool | None) -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop when asked for (argument, or ``TIDEWIRE_UVLOOP=1``) and installed."""
    if use_uvloop is None:
        use_uvloop = os.environ.get("TIDEWIRE_UVLOOP", "") not in ("", "0")
    if use_uvloop:
        try:
            import uvloop  # noqa: PLC0415
        except ImportError:
            warnings.warn(
                "uvloop is not installed; using the asyncio loop", RuntimeWarning, stacklevel=3
            )
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop


class NotAnApplication(TypeError):
    """What ``resolve_app`` raises when it is given something that is neither an
    ``Application`` nor a factory of one without arguments, or a factory returns
    something else: its own class, so that a command line or a gunicorn worker can say
    so in one line, while a ``TypeError`` raised inside a factory keeps its traceback."""


def resolve_app(target: object, name: str) -> Application | Awaitable[Application]:
    """The application ``target`` stands for: ``target`` itself if it is one, else what
    calling it with no arguments gives, an ``Application`` or an awaitable of one (an
    ``async def`` factory, awaited by the caller inside its event loop).

    The gunicorn workers and ``python -m tidewire.server`` load ``MODULE:FACTORY`` with
    it, so both accept the same three shapes. ``name`` (``"app:make_app"``) goes into
    the ``NotAnApplication`` messages.
    """
    if isinstance(target, Application):
        return target
    if not callable(target):
        raise NotAnApplication(
            f"{name} is {type(target).__name__}, not an Application or a factory of one"
        )
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):  # no signature to read (some builtins): just call it
        parameters = inspect.Signature().parameters.values()
    required = [
        p.name
        for p in parameters
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if required:
        raise NotAnApplication(
            f"{name} needs arguments ({', '.join(required)}); give a factory that takes none"
        )
    made = target()
    if inspect.isawaitable(made):
        return _awaited_app(made, name)
    return _checked_app(made, name)


async def _awaited_app(made: Awaitable[object], name: str) -> Application:
    return _checked_app(await made, name)


def _checked_app(made: object, name: str) -> Application:
    if not isinstance(made, Application):
        raise NotAnApplication(f"{name}() returned {type(made).__name__}, not an Application")
    return made


async def _serve(
    app: Application | Awaitable[Application],
    host: str | list[str] | None,
    port: int,
    *,
    path: str | os.PathLike[str] | None,
    sock: socket.socket | None,
    shutdown_timeout: float,
    ssl_context: ssl.SSLContext | None,
    print: Callable[..., None] | None,
    handle_signals: bool,
    backlog: int,
    reuse_port: bool | None,
    limits: dict[str, Any],
) -> None:
    if not isinstance(app, Application):
        app = await app
    loop = asyncio.get_running_loop()
    if loop.get_debug():  # run_app(debug=True): the application's debug mode too
        app.debug = True
    runner = AppRunner(app, shutdown_timeout=shutdown_timeout, **limits)
    stop = asyncio.Event()
    if handle_signals:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, stop.set)
    await runner.setup()
    try:
        site: BaseSite
        if sock is not None:
            site = SockSite(runner, sock, ssl_context=ssl_context, backlog=backlog)
        elif path is not None:
            site = UnixSite(runner, path, ssl_context=ssl_context, backlog=backlog)
        else:
            site = TCPSite(
                runner, host, port, ssl_context=ssl_context, backlog=backlog, reuse_port=reuse_port
            )
        await site.start()
        if print is not None:
            print(f"======== Running on {site.name} ========\n(Press CTRL+C to quit)")
        await stop.wait()
    finally:
        await runner.cleanup()


def run_app(
    app: Application | Awaitable[Application],
    *,
    host: str | list[str] | None = "0.0.0.0",
    port: int = 8080,
    path: str | os.PathLike[str] | None = None,
    sock: socket.socket | None = None,
    shutdown_timeout: float = 60.0,
    ssl_context: ssl.SSLContext | None = None,
    print: Callable[..., None] | None = print,
    handle_signals: bool = True,
    use_uvloop: bool | None = None,
    backlog: int = 128,
    reuse_port: bool | None = None,
    access_log: logging.Logger | None = ACCESS_LOGGER,
    access_log_format: str = DEFAULT_FORMAT,
    debug: bool | None = None,
    **limits: Any,
) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, then shut down gracefully.

    The blocking entry point for a script: it creates and closes its own event loop, so
    call it outside of one. ``app`` may be an awaitable giving the application (a
    coroutine that builds it inside the loop). ``host`` and ``port`` say where to
    listen (one site; see ``TCPSite``); ``path``, a Unix socket, is listened on
    instead when given (see ``UnixSite``), and ``sock``, a bound socket (systemd's,
    say), is served instead of either (see ``SockSite``). ``access_log`` and
    ``access_log_format`` are ``AppRunner``'s. ``debug=True`` puts the application in
    debug mode (see ``Application``) and the loop in asyncio's from its first step
    (None: as ``TIDEWIRE_DEBUG`` says, or the application's own ``debug``). ``print``
    (``None`` for silence) announces the URL. ``shutdown_timeout`` is ``AppRunner``'s.
    ``handle_signals=False`` installs no signal handlers: Python's defaults apply
    (Ctrl-C still stops, through ``KeyboardInterrupt``). ``use_uvloop=None`` follows the
    ``TIDEWIRE_UVLOOP`` environment variable (uvloop is used only when installed;
    otherwise a ``RuntimeWarning``). ``**limits`` are ``Limits`` fields
    (``keepalive_timeout``, ...).

    Raises what starting raises: ``OSError`` when the address cannot be bound, the
    exceptions of startup hooks, ``CleanupError`` from cleanup hooks.
    """
    if debug is None:
        debug = debug_from_env() or (isinstance(app, Application) and app.debug)
    loop = _loop_factory(use_uvloop)()
    if debug:
        loop.set_debug(True)
    run_loop(
        loop,
        _serve(
            app,
            host,
            port,
            path=path,
            sock=sock,
            shutdown_timeout=shutdown_timeout,
            ssl_context=ssl_context,
            print=print,
            handle_signals=handle_signals,
            backlog=backlog,
            reuse_port=reuse_port,
            limits={"access_log": access_log, "access_log_format": access_log_format, **limits},
        ),
    )


def run_loop(loop: asyncio.AbstractEventLoop, main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` in ``loop`` as this thread's event loop, then close the loop after
    cancelling what is left: ``run_app`` and each gunicorn worker process end alike.

    ``KeyboardInterrupt`` ends the run quietly (Ctrl-C without signal handlers).
    """
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(main)
    except KeyboardInterrupt:
        pass
    finally:
        _cancel_all(loop)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        asyncio.set_event_loop(None)
        loop.close()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
