"""The access log: one line per answered request, in aiohttp's (Apache's) format language.

``run_app(app, access_log=logger, access_log_format=...)`` or the same arguments of
``AppRunner``. The default logger is ``tidewire.access``, which writes nothing until
logging is configured to show it (``logging.basicConfig(level=logging.INFO)``); with
``access_log=None``, or while the logger is disabled, a request costs one check and
nothing is timed or formatted.

The directives, as aiohttp's ``access_log_format`` has them:

- ``%a`` the client's address, ``%P`` this process's id, ``%t`` when the request
  began (``[30/Nov/2026:20:05:01 +0000]``), ``%r`` its first line
  (``GET /path?q HTTP/1.1``), ``%s`` the status, ``%b`` the body's size in bytes;
- ``%T`` the seconds taken, ``%Tf`` the same with fractions, ``%D`` microseconds;
- ``%{Name}i`` a request header, ``%{Name}o`` a response header, ``%{NAME}e`` an
  environment variable (``-`` when absent); ``%%`` is ``%``.

A WebSocket's line is written when its handler ends: its status is 101 and its time
the connection's life. A format naming an unknown directive raises ``ValueError`` when
the runner is made, not at the first request.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tidewire.server.request import Request
    from tidewire.server.response import StreamResponse

__all__ = ["DEFAULT_FORMAT", "AccessLogger"]

DEFAULT_FORMAT = '%a %t "%r" %s %b "%{Referer}i" "%{User-Agent}i"'
"""aiohttp's default: the combined log format, without the user."""

_DIRECTIVE = re.compile(r"%(?:\{([^}]+)\}([ioe])|(Tf|[atPrsbTD%]))")

Part = Callable[["Request", "StreamResponse", float, float], str]
"""One directive: ``(request, response, started, seconds) -> text``."""


def _first_line(request: Request, response: StreamResponse, started: float, took: float) -> str:
    return f"{request.method} {request.path_qs} HTTP/1.{request.version_minor}"


def _size(request: Request, response: StreamResponse, started: float, took: float) -> str:
    length = response.content_length
    return str(length if length is not None else response._sent)


_SIMPLE: dict[str, Part] = {
    "a": lambda request, response, started, took: request.remote or "-",
    "t": lambda request, response, started, took: time.strftime(
        "[%d/%b/%Y:%H:%M:%S %z]", time.localtime(started)
    ),
    "P": lambda request, response, started, took: str(os.getpid()),
    "r": _first_line,
    "s": lambda request, response, started, took: str(response.status),
    "b": _size,
    "T": lambda request, response, started, took: str(int(took)),
    "Tf": lambda request, response, started, took: f"{took:.6f}",
    "D": lambda request, response, started, took: str(int(took * 1_000_000)),
    "%": lambda request, response, started, took: "%",
}


def _named(kind: str, name: str) -> Part:
    if kind == "i":
        return lambda request, response, started, took: request.headers.get(name, "-")
    if kind == "o":
        return lambda request, response, started, took: response.headers.get(name, "-")
    return lambda request, response, started, took: os.environ.get(name, "-")


class AccessLogger:
    """Writes the access log line of each request to ``logger`` (at INFO), formatted
    by ``log_format`` (see the module docstring); ``ValueError`` for a format with an
    unknown directive. The server calls ``log`` after each response."""

    __slots__ = ("_parts", "logger")

    def __init__(self, logger: logging.Logger, log_format: str = DEFAULT_FORMAT) -> None:
        self.logger = logger
        parts: list[str | Part] = []
        last = 0
        for found in _DIRECTIVE.finditer(log_format):
            parts.append(log_format[last : found.start()])
            name, kind, simple = found.groups()
            parts.append(_SIMPLE[simple] if simple else _named(kind, name))
            last = found.end()
        parts.append(log_format[last:])
        for part in parts:
            if isinstance(part, str) and "%" in part:
                raise ValueError(f"unknown directive in the access log format: {part!r}")
        self._parts = tuple(part for part in parts if part != "")

    @property
    def enabled(self) -> bool:
        """Whether the logger writes INFO records now (else nothing is measured)."""
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: Request, response: StreamResponse, took: float) -> None:
        """Write the line of ``request``, answered with ``response`` in ``took`` seconds;
        a failure to format is logged, never raised into the connection."""
        started = time.time() - took
        try:
            line = "".join(
                part if isinstance(part, str) else part(request, response, started, took)
                for part in self._parts
            )
        except Exception:
            self.logger.exception("formatting the access log line failed")
            return
        self.logger.info(line)
