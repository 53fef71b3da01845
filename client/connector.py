"""``TCPConnector``: the keep-alive pool with total and per-host limits.

A request holds a *slot* from the moment it starts acquiring until its connection is
released; slots, not sockets, are what ``limit`` and ``limit_per_host`` count. When a slot
frees up it is handed straight to the oldest waiter that may take it, so a newcomer cannot
overtake a queued request. Idle connections wait in a LIFO list per key and are checked
for a server-side close and for age before they are handed out; one timer per connector
sweeps the expired ones.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections import deque

from .exceptions import (
    ClientConnectionError,
    ClientConnectorCertificateError,
    ClientConnectorError,
    ClientError,
    ClientProxyConnectionError,
)
from .protocol import ConnectionKey, ResponseHandler, SSLOption
from .proxy import ProxyRoute, open_tunnel
from .timeouts import Deadline, arm, guard
from .tracing import (
    NO_TRACES,
    Trace,
    TraceConnectionCreateEndParams,
    TraceConnectionCreateStartParams,
    TraceConnectionQueuedEndParams,
    TraceConnectionQueuedStartParams,
    TraceConnectionReuseconnParams,
    emit,
)


class TCPConnector:
    """Opens, pools and limits the connections of one or more sessions.

    - ``limit``: connections open at once, in use or being opened (0: no limit); a
      request past it waits for one to be released, within its ``connect`` timeout.
    - ``limit_per_host``: the same, per host, port and TLS setting (0: no limit).
    - ``keepalive_timeout``: seconds an idle connection stays in the pool.
    - ``force_close``: close every connection after its response (no reuse).
    - ``ssl``: the default TLS option of requests that pass ``ssl=None``: ``True`` to
      verify with the default context, ``False`` not to verify, or an
      ``ssl.SSLContext``.
    - ``family``, ``local_addr``: passed to ``loop.create_connection``.

    Opening a connection raises ``ClientConnectorError`` (with the host and port), or
    ``ClientConnectorCertificateError`` when the certificate fails verification; a
    closed connector raises ``ClientConnectionError``.
    """

    def __init__(
        self,
        *,
        limit: int = 100,
        limit_per_host: int = 0,
        keepalive_timeout: float = 15.0,
        force_close: bool = False,
        ssl: SSLOption = True,
        family: int = 0,
        local_addr: tuple[str, int] | None = None,
    ) -> None:
        self.limit = limit
        self.limit_per_host = limit_per_host
        self.keepalive_timeout = keepalive_timeout
        self.force_close = force_close
        self.ssl = ssl
        self._family = family
        self._local_addr = local_addr
        self._contexts: dict[bool, ssl_module.SSLContext] = {}
        self._idle: dict[ConnectionKey, list[ResponseHandler]] = {}
        self._acquired: set[ResponseHandler] = set()
        self._slots = 0
        self._slots_per_key: dict[ConnectionKey, int] = {}
        self._waiters: deque[tuple[ConnectionKey, asyncio.Future[None]]] = deque()
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called; a closed connector opens nothing more."""
        return self._closed

    @property
    def in_use(self) -> int:
        """Connections handed out and not yet released."""
        return len(self._acquired)

    @property
    def idle(self) -> int:
        """Open connections waiting in the pool for a next request."""
        return sum(map(len, self._idle.values()))

    # -- slots -----------------------------------------------------------------------

    def _has_slot(self, key: ConnectionKey) -> bool:
        return (not self.limit or self._slots < self.limit) and (
            not self.limit_per_host or self._slots_per_key.get(key, 0) < self.limit_per_host
        )

    def _take_slot(self, key: ConnectionKey) -> None:
        self._slots += 1
        self._slots_per_key[key] = self._slots_per_key.get(key, 0) + 1

    def _free_slot(self, key: ConnectionKey) -> None:
        self._slots -= 1
        left = self._slots_per_key[key] - 1
        if left:
            self._slots_per_key[key] = left
        else:
            del self._slots_per_key[key]
        for entry in list(self._waiters):
            waiter_key, waiter = entry
            if waiter.done():
                self._waiters.remove(entry)
            elif self._has_slot(waiter_key):
                self._waiters.remove(entry)
                self._take_slot(waiter_key)
                waiter.set_result(None)

    async def _wait_for_slot(self, key: ConnectionKey, deadline: Deadline) -> None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        entry = (key, waiter)
        self._waiters.append(entry)

        def expire(error: BaseException) -> None:
            if not waiter.done():
                waiter.set_exception(error)

        handle = arm(loop, deadline.acquire_limit(), expire)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._free_slot(key)  # granted, but our task was cancelled meanwhile
            elif entry in self._waiters:
                self._waiters.remove(entry)
            raise
        finally:
            if handle is not None:
                handle.cancel()

    # -- acquiring and releasing -------------------------------------------------------

    async def connect(
        self,
        key: ConnectionKey,
        deadline: Deadline,
        *,
        fresh: bool = False,
        traces: tuple[Trace, ...] = NO_TRACES,
    ) -> ResponseHandler:
        """A connection for ``key``: an idle one unless ``fresh``, else a new one."""
        if self._closed:
            raise ClientConnectionError("Connector is closed")
        started = asyncio.get_running_loop().time()
        queued = not self._has_slot(key)
        if not queued:
            self._take_slot(key)
        else:
            if traces:
                await emit(traces, "on_connection_queued_start", TraceConnectionQueuedStartParams())
            await self._wait_for_slot(key, deadline)
        handler: ResponseHandler | None = None
        try:
            if queued and traces:
                await emit(traces, "on_connection_queued_end", TraceConnectionQueuedEndParams())
            handler = None if fresh else self._pop_idle(key)
            reused = handler is not None
            if handler is None:
                handler = await self.open(key, deadline, started, traces)
            elif traces:
                await emit(traces, "on_connection_reuseconn", TraceConnectionReuseconnParams())
        except BaseException:
            if handler is not None:
                handler.close()  # a trace callback failed: the connection is not handed out
            self._free_slot(key)
            raise
        handler.acquire(self, reused=reused)
        self._acquired.add(handler)
        return handler

    def _pop_idle(self, key: ConnectionKey) -> ResponseHandler | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        oldest = asyncio.get_running_loop().time() - self.keepalive_timeout
        while idle:
            handler = idle.pop()
            if handler.usable and handler.idle_since > oldest:
                return handler
            handler.close()
        del self._idle[key]
        return None

    def release(self, handler: ResponseHandler, *, reusable: bool) -> None:
        """Take back a connection from a finished (or failed) request."""
        self._acquired.discard(handler)
        if reusable and not self._closed and not self.force_close:
            loop = asyncio.get_running_loop()
            handler.idle_since = loop.time()
            self._idle.setdefault(handler.key, []).append(handler)
            if self._sweeper is None:
                self._sweeper = loop.call_later(self.keepalive_timeout, self._sweep)
        else:
            handler.close()
        self._free_slot(handler.key)

    def forget(self, handler: ResponseHandler) -> None:
        """Drop an idle connection the server closed."""
        idle = self._idle.get(handler.key)
        if idle and handler in idle:
            idle.remove(handler)
            if not idle:
                del self._idle[handler.key]

    def _sweep(self) -> None:
        self._sweeper = None
        loop = asyncio.get_running_loop()
        oldest = loop.time() - self.keepalive_timeout
        next_expiry: float | None = None
        for key, idle in list(self._idle.items()):
            keep = [handler for handler in idle if handler.idle_since > oldest]
            for handler in idle:
                if handler.idle_since <= oldest:
                    handler.close()
            if keep:
                self._idle[key] = keep
                first = min(handler.idle_since for handler in keep)
                next_expiry = first if next_expiry is None else min(next_expiry, first)
            else:
                del self._idle[key]
        if next_expiry is not None:
            self._sweeper = loop.call_at(next_expiry + self.keepalive_timeout, self._sweep)

    # -- opening -----------------------------------------------------------------------

    def ssl_context(self, option: SSLOption) -> ssl_module.SSLContext:
        """The TLS context for a request's ``ssl`` option (``None`` means the connector's)."""
        if option is None:
            option = self.ssl
        if isinstance(option, ssl_module.SSLContext):
            return option
        verify = option is not False
        context = self._contexts.get(verify)
        if context is None:
            context = ssl_module.create_default_context()
            if not verify:
                context.check_hostname = False
                context.verify_mode = ssl_module.CERT_NONE
            self._contexts[verify] = context
        return context

    async def open(
        self,
        key: ConnectionKey,
        deadline: Deadline,
        started: float,
        traces: tuple[Trace, ...] = NO_TRACES,
    ) -> ResponseHandler:
        """A new connection outside the pool (the caller owns it): to the target, or
        through the proxy of ``key.proxy``. The connect budget covers all of it: the
        socket, a proxy's CONNECT exchange and the TLS handshake."""
        if traces:
            await emit(traces, "on_connection_create_start", TraceConnectionCreateStartParams())
        loop = asyncio.get_running_loop()
        handler = ResponseHandler(loop, key)
        context = self.ssl_context(key.ssl) if key.is_ssl else None
        try:
            with guard(deadline.connect_limit(started)):
                if key.proxy is None:
                    await self._connect(handler, key.host, key.port, context, key.host)
                elif key.proxy.tunnel:
                    await self._tunnel(handler, key, key.proxy, context)
                else:  # absolute-form requests: a plain connection to the proxy
                    try:
                        await self._connect(handler, key.host, key.port, None, None)
                    except OSError as error:
                        raise ClientProxyConnectionError(key.host, key.port, error) from error
        except ClientError:
            raise  # our own timeout, which is an OSError too on Python 3.11+
        except ssl_module.SSLCertVerificationError as error:
            raise ClientConnectorCertificateError(key.host, key.port, error) from error
        except OSError as error:
            raise ClientConnectorError(key.host, key.port, error) from error
        if traces:
            try:
                await emit(traces, "on_connection_create_end", TraceConnectionCreateEndParams())
            except BaseException:
                handler.close()
                raise
        return handler

    async def _connect(
        self,
        handler: ResponseHandler,
        host: str,
        port: int,
        context: ssl_module.SSLContext | None,
        server_hostname: str | None,
    ) -> None:
        await asyncio.get_running_loop().create_connection(
            lambda: handler,
            host,
            port,
            ssl=context,
            server_hostname=server_hostname if context is not None else None,
            family=self._family,
            local_addr=self._local_addr,
        )

    async def _tunnel(
        self,
        handler: ResponseHandler,
        key: ConnectionKey,
        route: ProxyRoute,
        context: ssl_module.SSLContext | None,
    ) -> None:
        """Open a CONNECT tunnel to the key's target and start ``handler`` on it, over
        TLS (checked against the target's name, not the proxy's) when the key wants it."""
        transport = await open_tunnel(
            route, key.host, key.port, family=self._family, local_addr=self._local_addr
        )
        if context is None:
            transport.set_protocol(handler)
            handler.connection_made(transport)
            return
        try:
            tls = await asyncio.get_running_loop().start_tls(
                transport, handler, context, server_hostname=key.host
            )
        except BaseException:
            transport.close()
            raise
        if tls is None:  # only for a transport closing under it
            raise ConnectionResetError("the tunnel closed during the TLS handshake")
        handler.connection_made(tls)

    async def close(self) -> None:
        """Close every connection, idle or in use; waiting requests fail."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for idle in self._idle.values():
            for handler in idle:
                handler.close()
        self._idle.clear()
        for handler in list(self._acquired):
            handler.close()
        for _, waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(ClientConnectionError("Connector is closed"))
        self._waiters.clear()
