"""The request a handler receives.

Everything beyond method, target and headers (query, cookies, URL, decoded path) is
computed on first access: a "Hello, world" handler pays for none of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from http.cookies import CookieError, SimpleCookie
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy
from yarl import URL

from tidewire.protocol.http import ContentHeaders, parse_content_type
from tidewire.server.exceptions import HTTPBadRequest, HTTPRequestEntityTooLarge
from tidewire.server.multipart import BodyPart, FileField, MultipartReader
from tidewire.server.streams import StreamReader

if TYPE_CHECKING:
    from tidewire.server.app import Application
    from tidewire.server.protocol import HTTPProtocol
    from tidewire.server.response import StreamResponse
    from tidewire.server.router import MatchInfo

__all__ = ["FileField", "Request"]


class Request(ContentHeaders, MutableMapping[str, Any]):
    """One HTTP request, as a handler receives it; the server creates it.

    It reads as aiohttp's ``web.Request``: the request line (``method``, ``path``,
    ``query``, ``url``...), ``headers`` and ``cookies``, the routing result
    (``match_info``, ``app``), and the body, whole (``read``, ``text``, ``json``,
    ``post``) or as a stream (``content``). It is also a mutable mapping, empty at
    first, for per-request state that middlewares hand to handlers
    (``request["user"] = user``).

    ``host``, ``scheme`` and ``remote`` describe the connection and its ``Host`` header:
    no proxy header is trusted unless the application says which proxies to trust
    (``tidewire.server.forwarded.trusted_proxies``), which hands handlers a
    ``clone(scheme=..., host=..., remote=...)``. ``forwarded`` parses the RFC 7239
    header for those who decide themselves.

    Missing from aiohttp's: ``release()`` and ``raw_headers``.
    """

    __slots__ = (
        "_app",
        "_content",
        "_cookies",
        "_forwarded",
        "_headers",
        "_host",
        "_keep_alive",
        "_match_info",
        "_method",
        "_origin",
        "_path",
        "_post",
        "_protocol",
        "_query",
        "_query_string",
        "_raw_path",
        "_read_bytes",
        "_remote",
        "_response",
        "_scheme",
        "_state",
        "_target",
        "_url",
        "version_minor",
    )

    def __init__(
        self,
        protocol: HTTPProtocol,
        method: str,
        target: str,
        headers: CIMultiDictProxy[str],
        *,
        version_minor: int,
        keep_alive: bool,
        content: StreamReader,
        app: Application,
    ) -> None:
        self._protocol = protocol
        self._method = method
        self._target = target
        self._headers = headers
        self.version_minor = version_minor
        self._keep_alive = keep_alive
        self._content = content
        self._app = app
        self._match_info: MatchInfo | None = None
        self._state: dict[str, Any] | None = None
        raw_path, _, query_string = target.partition("?")
        if not raw_path.startswith("/"):
            raw_path = _origin_path(raw_path)
        self._raw_path = raw_path
        self._query_string = query_string
        self._path: str | None = None
        self._query: MultiDictProxy[str] | None = None
        self._cookies: MappingProxyType[str, str] | None = None
        self._url: URL | None = None
        self._read_bytes: bytes | None = None
        self._post: MultiDictProxy[str | FileField] | None = None
        self._response: StreamResponse | None = None
        self._forwarded: tuple[MappingProxyType[str, str], ...] | None = None
        # What clone() replaced; None: from the connection and the Host header.
        self._scheme: str | None = None
        self._host: str | None = None
        self._remote: str | None = None
        self._origin: Request | None = None  # the request the server answers, for a clone

    def clone(
        self,
        *,
        method: str | None = None,
        rel_url: str | URL | None = None,
        headers: Mapping[str, str] | None = None,
        scheme: str | None = None,
        host: str | None = None,
        remote: str | None = None,
    ) -> Request:
        """A copy of this request with the given parts replaced, for a middleware to
        hand to the handler: behind a proxy, the client's ``scheme``, ``host`` and
        ``remote`` address (``trusted_proxies`` does it). The copy shares the body
        stream, what was read of it and the routing result; its per-request state is
        a copy. A response prepared for the copy answers the original."""
        target = self._target if rel_url is None else str(URL(str(rel_url)))
        clone = Request(
            self._protocol,
            self._method if method is None else method.upper(),
            target,
            self._headers if headers is None else CIMultiDictProxy(CIMultiDict(headers)),
            version_minor=self.version_minor,
            keep_alive=self._keep_alive,
            content=self._content,
            app=self._app,
        )
        clone._match_info = self._match_info
        clone._read_bytes, clone._post = self._read_bytes, self._post
        clone._state = self._ensure_state()
        clone._scheme = self._scheme if scheme is None else scheme
        clone._host = self._host if host is None else host
        clone._remote = self._remote if remote is None else remote
        clone._origin = self._origin or self
        return clone

    # -- per-request state -------------------------------------------------------

    def _ensure_state(self) -> dict[str, Any]:
        if self._state is None:
            self._state = {}
        return self._state

    def __getitem__(self, key: str) -> Any:
        return self._ensure_state()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._ensure_state()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._ensure_state()[key]

    def __len__(self) -> int:
        return len(self._state) if self._state else 0

    def __iter__(self) -> Iterator[str]:
        return iter(self._ensure_state())

    def __repr__(self) -> str:
        return f"<Request {self._method} {self._target}>"

    # Mapping's __eq__ would compare the state dicts; requests are distinct objects.
    __hash__ = object.__hash__

    def __eq__(self, other: object) -> bool:
        return self is other

    # -- the request line --------------------------------------------------------

    @property
    def method(self) -> str:
        """The method, upper case as sent: ``GET``, ``POST``..."""
        return self._method

    @property
    def version(self) -> tuple[int, int]:
        """The HTTP version, ``(1, 1)`` or ``(1, 0)`` (a plain tuple: aiohttp's is named)."""
        return (1, self.version_minor)

    @property
    def path(self) -> str:
        """The percent-decoded path, what routes match against."""
        if self._path is None:
            raw = self._raw_path
            self._path = unquote(raw) if "%" in raw else raw
        return self._path

    @property
    def raw_path(self) -> str:
        """The path and query exactly as sent (origin-form), still percent-encoded."""
        return f"{self._raw_path}?{self._query_string}" if self._query_string else self._raw_path

    @property
    def path_qs(self) -> str:
        """The decoded ``path`` and the raw query string: ``/a b?q=%20``."""
        return f"{self.path}?{self._query_string}" if self._query_string else self.path

    @property
    def query_string(self) -> str:
        """The query string as sent, without the ``?``, still percent-encoded."""
        return self._query_string

    @property
    def query(self) -> MultiDictProxy[str]:
        """The decoded query parameters, repeated keys kept (``getall``); blank values
        are kept as ``""``."""
        if self._query is None:
            self._query = MultiDictProxy(
                MultiDict(parse_qsl(self._query_string, keep_blank_values=True))
            )
        return self._query

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """The request headers, read-only, case-insensitive, repeated ones kept."""
        return self._headers

    @property
    def keep_alive(self) -> bool:
        """Whether the connection may be reused after this request: the client allows it
        and the server is not shutting down."""
        return self._keep_alive and not self._protocol.server_closing

    @property
    def secure(self) -> bool:
        """Whether ``scheme`` is https: the connection is TLS, or a trusted proxy said
        the client used it (see ``clone``)."""
        return self.scheme == "https"

    @property
    def scheme(self) -> str:
        """``"https"`` over TLS, else ``"http"`` (or what ``clone`` was given)."""
        if self._scheme is not None:
            return self._scheme
        transport = self._protocol.transport
        tls = transport is not None and transport.get_extra_info("sslcontext") is not None
        return "https" if tls else "http"

    @property
    def host(self) -> str:
        """The ``Host`` header as sent (so chosen by the client: check it before
        trusting it), else the local address the request came to (or what ``clone``
        was given)."""
        if self._host is not None:
            return self._host
        host = self._headers.get("Host")
        if host:
            return host
        sockname = self._protocol.sockname
        return f"{sockname[0]}:{sockname[1]}" if sockname else "localhost"

    @property
    def url(self) -> URL:
        """The absolute URL of the request, from ``scheme``, ``host`` and ``raw_path``."""
        if self._url is None:
            self._url = URL(f"{self.scheme}://{self.host}{self.raw_path}", encoded=True)
        return self._url

    @property
    def rel_url(self) -> URL:
        """The path and query as a relative ``yarl.URL``, still encoded."""
        return URL(self.raw_path, encoded=True)

    @property
    def remote(self) -> str | None:
        """The peer's IP address (or what ``clone`` was given)."""
        if self._remote is not None:
            return self._remote
        peer = self._protocol.peername
        if isinstance(peer, (tuple, list)) and peer:
            return str(peer[0])
        return str(peer) if peer else None

    @property
    def forwarded(self) -> tuple[MappingProxyType[str, str], ...]:
        """The ``Forwarded`` headers (RFC 7239), one read-only mapping per element,
        nearest proxy last: ``request.forwarded[-1]["for"]``. Parameter names are
        lower-cased and quoted values unquoted; a malformed element is left out.
        Anyone can send this header: trust it only from your own proxies."""
        if self._forwarded is None:
            self._forwarded = parse_forwarded(self._headers.getall("Forwarded", ()))
        return self._forwarded

    @property
    def cookies(self) -> MappingProxyType[str, str]:
        """The cookies of the ``Cookie`` header, by name, read-only; a header that
        does not parse is ignored rather than raising."""
        if self._cookies is None:
            jar: SimpleCookie = SimpleCookie()
            with contextlib.suppress(CookieError):
                jar.load(self._headers.get("Cookie", ""))
            self._cookies = MappingProxyType({key: m.value for key, m in jar.items()})
        return self._cookies

    # -- the connection and the routing result ------------------------------------

    @property
    def protocol(self) -> HTTPProtocol:
        """The connection's protocol; ``upgrade()`` on it hands the socket over."""
        return self._protocol

    @property
    def transport(self) -> asyncio.Transport | None:
        """The connection's transport; ``None`` once the client went away."""
        return self._protocol.transport

    @property
    def app(self) -> Application:
        """The application that owns the matched route (a sub-application if nested)."""
        return self._app

    @property
    def config_dict(self) -> MappingProxyType[Any, Any]:
        """The state of every application from the root to ``app``, inner ones winning."""
        merged: dict[Any, Any] = {}
        apps = self._match_info.apps if self._match_info is not None else (self._app,)
        for app in apps:
            merged.update(app)
        return MappingProxyType(merged)

    @property
    def match_info(self) -> MatchInfo:
        """The route's path parameters and what matched (see ``MatchInfo``);
        ``RuntimeError`` before routing, which runs before any middleware."""
        if self._match_info is None:
            raise RuntimeError("the request has not been routed yet")
        return self._match_info

    # -- the body ----------------------------------------------------------------

    @property
    def content(self) -> StreamReader:
        """The body as a stream, for handlers that process it as it arrives."""
        return self._content

    @property
    def body_exists(self) -> bool:
        """Whether the request announces a body (a ``Content-Length``, even 0, or a
        ``Transfer-Encoding`` header). ``can_read_body`` is the same test: unlike
        aiohttp's, it stays true after the body was read."""
        return "Content-Length" in self._headers or "Transfer-Encoding" in self._headers

    can_read_body = body_exists

    async def read(self) -> bytes:
        """The whole body, at most the application's ``client_max_size`` bytes; ``b""``
        when there is none. Later calls return the same bytes.

        Raises the ``HTTPException`` the server answers with when the body is not
        acceptable: ``HTTPRequestEntityTooLarge`` past ``client_max_size`` (at once,
        without reading, when ``Content-Length`` says so: a client waiting on
        ``Expect: 100-continue`` is then told 413 before it sends the body),
        ``HTTPBadRequest`` when it is malformed or ends early. Do not mix it with
        reading ``content``: what the stream handed out is not read again.
        """
        if self._read_bytes is None:
            limit = self._root_app().client_max_size
            if limit is None:
                self._read_bytes = await self._content.read()
            else:
                length = self.content_length
                body = b""
                too_large = length is not None and length > limit
                if not too_large:
                    body = await self._content.read_bounded(limit + 1)
                    too_large = len(body) > limit
                if too_large:
                    # The client may still be sending it: answer, then close.
                    (self._origin or self)._keep_alive = False
                    raise _too_large(limit)
                self._read_bytes = body
        return self._read_bytes

    def _root_app(self) -> Application:
        """The application served (its ``client_max_size`` bounds every body)."""
        apps = self._match_info.apps if self._match_info is not None else ()
        return apps[0] if apps else self._app

    async def text(self) -> str:
        """The body decoded with its ``charset`` (UTF-8 when none is given).

        Raises what ``read`` raises, and ``UnicodeDecodeError`` (``LookupError`` for an
        unknown charset): uncaught, the client gets a 500, so catch it to answer 400.
        """
        body = await self.read()
        return body.decode(self.charset or "utf-8")

    async def json(self, *, loads: Any = json.loads) -> Any:
        """The body parsed by ``loads`` from ``text()``, whatever its ``Content-Type``.

        Raises what ``text`` and ``loads`` raise (``json.JSONDecodeError``, a
        ``ValueError``, for bad JSON); catch it to answer 400 rather than 500.
        """
        return loads(await self.text())

    async def multipart(self) -> MultipartReader:
        """The parts of a ``multipart/*`` body as they arrive, for uploads too large to
        hold: ``async for part in await request.multipart():``, then
        ``part.read_chunk()`` (see ``MultipartReader``). It reads ``content``, which
        ``client_max_size`` does not bound: the handler decides how much to take.
        Raises ``HTTPBadRequest`` when the body is not multipart or has no boundary."""
        ctype, params = parse_content_type(self._headers.get("Content-Type", ""))
        if not ctype.startswith("multipart/"):
            raise HTTPBadRequest(text=f"expected a multipart body, not {ctype or 'none'}")
        boundary = params.get("boundary")
        if not boundary:
            raise HTTPBadRequest(text="multipart body without a boundary")
        return MultipartReader(self._content, boundary)

    async def post(self) -> MultiDictProxy[str | FileField]:
        """The form of a urlencoded or ``multipart/form-data`` body; empty otherwise.

        Values are ``str``, or ``FileField`` for uploaded files (held in memory: the
        whole body is read first, under ``client_max_size``; ``multipart()`` streams
        instead). Later calls return the same form. Raises what ``read`` raises, and
        ``HTTPBadRequest`` for a multipart body without a boundary or not following
        the syntax.
        """
        if self._post is None:
            ctype, params = parse_content_type(self._headers.get("Content-Type", ""))
            form: MultiDict[str | FileField] = MultiDict()
            if ctype == "application/x-www-form-urlencoded":
                text = await self.text()
                form.extend(parse_qsl(text, keep_blank_values=True))
            elif ctype == "multipart/form-data":
                boundary = params.get("boundary")
                if not boundary:
                    raise HTTPBadRequest(text="multipart body without a boundary")
                body = StreamReader()  # the bounded body, parsed as a stream
                body.feed_data(await self.read())
                body.feed_eof()
                charset = params.get("charset", "utf-8")
                async for part in MultipartReader(body, boundary):
                    await _add_field(form, part, charset)
            self._post = MultiDictProxy(form)
        return self._post


async def _add_field(form: MultiDict[str | FileField], part: BodyPart, charset: str) -> None:
    """A part of a form as ``post()`` gives it: a ``str``, or a ``FileField``."""
    if part.name is None:
        raise HTTPBadRequest(text="malformed multipart body: a part without a name")
    if part.filename is None:
        form.add(part.name, await part.text(charset))
        return
    content = await part.read()
    form.add(
        part.name,
        FileField(
            name=part.name,
            filename=part.filename,
            file=io.BytesIO(content),
            content_type=part.headers.get("Content-Type", "application/octet-stream"),
            headers=part.headers,
        ),
    )


def _too_large(limit: int) -> HTTPRequestEntityTooLarge:
    return HTTPRequestEntityTooLarge(text=f"413: the body exceeds the limit of {limit} bytes")


_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t !-~\x80-\xff])*"'
_PAIR = re.compile(rf"[ \t]*({_TOKEN})=({_TOKEN}|{_QUOTED})[ \t]*")
_ESCAPE = re.compile(r"\\(.)")


def parse_forwarded(values: Iterable[str]) -> tuple[MappingProxyType[str, str], ...]:
    """The elements of ``Forwarded`` header values (RFC 7239, section 4): ``for``,
    ``by``, ``proto``, ``host`` and any extension, quoted strings unescaped. An element
    that does not parse is dropped whole, and parsing goes on after its comma."""
    elements: list[MappingProxyType[str, str]] = []
    for value in values:
        pos, end = 0, len(value)
        while pos < end:
            element: dict[str, str] = {}
            while (found := _PAIR.match(value, pos)) is not None:
                name, raw = found.group(1).lower(), found.group(2)
                if raw.startswith('"'):
                    raw = _ESCAPE.sub(r"\1", raw[1:-1])
                element.setdefault(name, raw)
                pos = found.end()
                if pos == end or value[pos] != ";":
                    break
                pos += 1
            if found is not None and (pos == end or value[pos] == ","):
                elements.append(MappingProxyType(element))
            else:  # malformed: drop the element, go on after the next comma
                pos = value.find(",", pos)
                if pos < 0:
                    break
            pos += 1
    return tuple(elements)


def _origin_path(target: str) -> str:
    """The path of an absolute-form target (``GET http://host/p``) or ``*``."""
    if target == "*":
        return target
    scheme, sep, rest = target.partition("://")
    if not sep or not scheme.isalpha():
        raise HTTPBadRequest(text="invalid request target")
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else "/"
