"""gunicorn worker classes: ``gunicorn app:make_app --worker-class tidewire.server.GunicornWorker``.

gunicorn's arbiter binds the sockets, forks the workers, restarts the ones that die or
reach ``--max-requests``, replaces them all on HUP and stops them on SIGTERM. Each worker
process here runs one event loop with one ``AppRunner`` and a ``SockSite`` per socket
the arbiter listens on, so it starts and stops exactly as ``run_app`` does: one graceful
shutdown (stop accepting, ``on_shutdown``, WebSockets closed with 1001, running handlers
given ``shutdown_timeout``, then ``on_cleanup``), not a second one written for gunicorn.

The contract with the arbiter (see gunicorn's ``workers/base.py``): call ``notify()``
more often than ``--timeout``; SIGTERM stops gracefully within ``--graceful-timeout``;
SIGQUIT and SIGINT stop quickly; SIGUSR1 reopens the log files; a worker whose parent
changed (the arbiter died) stops; a worker that served ``max_requests`` responses exits
so that the arbiter starts a fresh one.

This module imports gunicorn; ``tidewire.server`` imports it only when one of its
classes is asked for, so the package works without gunicorn installed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from types import FrameType
from typing import Any

from gunicorn import sock as gunicorn_sock  # type: ignore[import-untyped]
from gunicorn.errors import AppImportError  # type: ignore[import-untyped]
from gunicorn.workers.base import Worker  # type: ignore[import-untyped]

from tidewire.server.app import Application
from tidewire.server.request import Request
from tidewire.server.response import StreamResponse
from tidewire.server.runner import AppRunner, NotAnApplication, SockSite, resolve_app, run_loop

__all__ = ["GunicornUVLoopWorker", "GunicornWorker"]

_CANCEL_MARGIN = 1.0
"""Seconds kept from gunicorn's graceful timeout for what follows the handlers' time:
cancelling the ones still running and ``on_cleanup``, before the arbiter's SIGKILL."""


class GunicornWorker(Worker):  # type: ignore[misc]  # gunicorn has no type hints
    """A gunicorn worker process serving a tidewire ``Application`` on asyncio's loop.

    The application is gunicorn's ``APP_MODULE`` (``module:name``): an ``Application``,
    a factory of one without arguments, or an ``async def`` factory (awaited in the
    worker's loop, so it may open connections there). gunicorn itself calls the factory
    when written ``module:make_app()``; for an ``async def`` factory write it without
    the parentheses.

    gunicorn's settings that apply: ``--graceful-timeout`` (``AppRunner``'s
    ``shutdown_timeout``, one second less), ``--keep-alive`` (``keepalive_timeout``),
    ``--backlog``, ``--max-requests`` with its jitter (counted in responses, WebSocket
    handshakes included), ``--timeout``, the TLS options, and the ``worker_int``,
    ``worker_abort`` and ``post_worker_init`` hooks. There is no gunicorn access log:
    tidewire's errors go to gunicorn's error log unless logging is configured already.
    """

    loop: asyncio.AbstractEventLoop

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stopping: asyncio.Event | None = None
        self._quick = False

    def new_loop(self) -> asyncio.AbstractEventLoop:
        """The event loop of this worker process; ``GunicornUVLoopWorker`` makes uvloop's."""
        return asyncio.new_event_loop()

    def init_process(self) -> None:
        """Make the worker's event loop, then let gunicorn set the process up, which
        installs the signal handlers on the loop, loads the application object and
        calls ``run()``. A fresh loop, since a loop is not safe to use across a fork."""
        self.loop = self.new_loop()
        asyncio.set_event_loop(self.loop)
        self._stopping = asyncio.Event()
        super().init_process()

    def init_signals(self) -> None:
        """Handle gunicorn's signals in the event loop, between callbacks, where stopping
        can start the runner's shutdown; SIGABRT (the arbiter's timeout, when the loop
        may be stuck) stays a plain Python handler that exits from wherever it is."""
        for signum in self.SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        for signum, handler in (
            (signal.SIGTERM, self.handle_exit),
            (signal.SIGQUIT, self.handle_quit),
            (signal.SIGINT, self.handle_quit),
            (signal.SIGUSR1, self.handle_usr1),
            (signal.SIGWINCH, self.handle_winch),
        ):
            self.loop.add_signal_handler(signum, handler, signum, None)
        signal.signal(signal.SIGABRT, self.handle_abort)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """SIGTERM: stop gracefully (the arbiter's stop, HUP reload or scale-down)."""
        self._stop()

    def handle_quit(self, sig: int, frame: FrameType | None) -> None:
        """SIGQUIT and SIGINT: stop quickly. Handlers still running are cancelled at once
        instead of waited for, though WebSockets are still sent their 1001 and the
        cleanup hooks still run; a second one exits at once."""
        if self._quick:
            sys.exit(0)
        self.cfg.worker_int(self)
        self._stop(quick=True)

    def _stop(self, *, quick: bool = False) -> None:
        self.alive = False
        self._quick = self._quick or quick
        if self._stopping is not None:
            self._stopping.set()

    def run(self) -> None:
        """Serve until told to stop, then shut down and close the loop (gunicorn calls
        it once the process is set up, and exits the process when it returns)."""
        run_loop(self.loop, self._serve())

    async def _serve(self) -> None:
        assert self._stopping is not None
        app = await self._load_app()
        self._route_logs()
        runner = AppRunner(
            app,
            shutdown_timeout=max(self.cfg.graceful_timeout - _CANCEL_MARGIN, 0.0),
            keepalive_timeout=float(self.cfg.keepalive),
        )
        if self.cfg.max_requests > 0:  # else the responses cost nothing more
            app.on_response_prepare.append(self._count_response)
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            await runner.setup()
            try:
                ssl_context = gunicorn_sock.ssl_context(self.cfg) if self.cfg.is_ssl else None
                for listener in self.sockets:
                    sock = getattr(listener, "sock", listener)  # gunicorn wraps the socket
                    site = SockSite(runner, sock, ssl_context=ssl_context, backlog=self.cfg.backlog)
                    await site.start()
                await self._stopping.wait()
            finally:
                if self._quick:
                    runner.shutdown_timeout = 0.0
                await runner.cleanup()
        finally:
            heartbeat.cancel()

    async def _load_app(self) -> Application:
        """Resolve gunicorn's application object; a wrong one is gunicorn's
        ``AppImportError``, on which the arbiter stops instead of restarting workers
        that cannot boot."""
        name = str(getattr(self.app, "app_uri", None) or self.wsgi)
        try:
            made = resolve_app(self.wsgi, name)
            return made if isinstance(made, Application) else await made
        except NotAnApplication as exc:
            raise AppImportError(str(exc)) from exc

    async def _heartbeat(self) -> None:
        """Tell the arbiter this worker lives, during the shutdown too (a long graceful
        stop is not a hang), and stop when the arbiter is gone."""
        interval = self.timeout if 0 < self.timeout < 1.0 else 1.0
        while True:
            self.notify()
            if self.alive and self.ppid != os.getppid():
                self.log.info("Parent changed, shutting down: %s", self)
                self._stop()
            await asyncio.sleep(interval)

    async def _count_response(self, request: Request, response: StreamResponse) -> None:
        """``on_response_prepare`` when ``max_requests`` is set: exit gracefully once
        reached, and the arbiter starts a new worker in this one's place."""
        self.nr += 1
        if self.nr >= self.max_requests and self.alive:
            self.log.info("Max requests, shutting down: %s", self)
            self._stop()

    def _route_logs(self) -> None:
        """Send tidewire's log records to gunicorn's error log (its file, format and
        SIGUSR1 reopening), unless the application configured logging itself."""
        tidewire_logger = logging.getLogger("tidewire")
        if tidewire_logger.handlers or logging.getLogger().handlers:
            return
        error_log: logging.Logger = self.log.error_log
        for handler in error_log.handlers:
            tidewire_logger.addHandler(handler)
        tidewire_logger.setLevel(error_log.level)


class GunicornUVLoopWorker(GunicornWorker):
    """``GunicornWorker`` on uvloop's event loop (``pip install uvloop``): the worker
    class for production, where uvloop's faster I/O pays."""

    def new_loop(self) -> asyncio.AbstractEventLoop:
        """A uvloop event loop; ``ImportError`` when uvloop is not installed, rather
        than a silent fallback to asyncio's loop under a worker class named for uvloop."""
        import uvloop  # noqa: PLC0415

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        return loop
