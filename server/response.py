"""Responses: the streaming base, the whole-body ``Response``, JSON and files.

Response classes carry no ``__slots__`` on purpose: every ``HTTPException`` is also a
``Response`` and an ``Exception``, and CPython refuses a class whose bases both have a
fixed instance layout.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import os
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from email.utils import formatdate, parsedate_to_datetime
from http.cookies import SimpleCookie
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from multidict import CIMultiDict

from tidewire.protocol.http import (
    CONNECTION,
    CONTENT_LENGTH,
    CONTENT_TYPE,
    DATE,
    LAST_CHUNK,
    SERVER,
    TRANSFER_ENCODING,
    ContentHeaders,
    build_head,
    encode_chunk,
    header_tokens,
    reason_phrase,
)

if TYPE_CHECKING:
    from tidewire.server.request import Request

__all__ = ["FileResponse", "Response", "StreamResponse", "json_response"]

LooseHeaders = Mapping[str, str] | Iterable[tuple[str, str]] | CIMultiDict[str]
BodyBytes = bytes | bytearray | memoryview

SERVER_SOFTWARE = "tidewire"

_date_second = 0
_date_value = ""


def http_date() -> str:
    """The ``Date`` header value, formatted at most once per second: it is on every reply."""
    global _date_second, _date_value
    now = int(time.time())
    if now != _date_second:
        _date_second = now
        _date_value = formatdate(now, usegmt=True)
    return _date_value


def add_vary(headers: CIMultiDict[str], name: str) -> None:
    """Name ``name`` in ``Vary`` (once): caches must keep one answer per value of that
    request header."""
    vary = headers.get("Vary")
    if vary is None:
        headers["Vary"] = name
    elif name.lower() not in (v.strip().lower() for v in vary.split(",")):
        headers["Vary"] = f"{vary}, {name}"


def preferred_coding(headers: Any, offered: Iterable[str]) -> str | None:
    """The coding of ``offered`` (in our order of preference) that the request's
    ``Accept-Encoding`` ranks highest, or None when it accepts none of them
    (``q=0``, or not named and no ``*``)."""
    ranks: dict[str, float] = {}
    for token in header_tokens(headers, "Accept-Encoding"):
        coding, _, params = token.partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranks[coding.strip()] = quality
    best, best_rank = None, 0.0
    for coding in offered:
        rank = ranks.get(coding, ranks.get("*", 0.0))
        if rank > best_rank:
            best, best_rank = coding, rank
    return best


class StreamResponse(ContentHeaders):
    """A response whose body the handler writes piece by piece after ``prepare()``::

        resp = StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        async for event in events():
            await resp.write(event)
        return resp

    ``status``, ``reason`` (the standard phrase when omitted) and ``headers`` may also
    be changed until ``prepare()`` sends them; after it, ``set_status`` and the body
    setters raise ``RuntimeError``. Returning the response is enough: the server then
    calls ``write_eof()``. ``write`` raises ``ConnectionResetError`` once the client is
    gone, which ends a handler that streams to nobody.

    Framing is decided when the head is written: a known ``Content-Length`` is kept,
    otherwise HTTP/1.1 peers get chunked encoding and HTTP/1.0 peers a body delimited by
    closing the connection. Statuses 1xx, 204 and 304 carry no body and no framing, so a
    subclass answering ``101 Switching Protocols`` (the WebSocket handshake) reuses
    ``prepare()`` unchanged.
    """

    def __init__(
        self,
        *,
        status: int = 200,
        reason: str | None = None,
        headers: LooseHeaders | None = None,
    ) -> None:
        self._status = status
        self._reason = reason
        self._headers: CIMultiDict[str] = CIMultiDict(headers) if headers else CIMultiDict()
        self._cookies: SimpleCookie | None = None
        self._chunked = False
        self._keep_alive: bool | None = None
        self._request: Request | None = None
        self._omit_body = False
        self._eof = False
        self._compression: str | None = None  # "gzip", "deflate" or "auto"
        self._compressor: Any = None  # a zlib compressobj once the head chose a coding
        self._sent = 0  # body bytes written, for the access log of a chunked body

    # -- status line and headers -------------------------------------------------

    @property
    def status(self) -> int:
        """The status code, ``200`` unless set."""
        return self._status

    @property
    def reason(self) -> str:
        """The reason phrase: the one given, or the standard one for ``status``."""
        return self._reason if self._reason is not None else reason_phrase(self._status)

    def set_status(self, status: int, reason: str | None = None) -> None:
        """Change the status (and the reason, the standard one if ``None``);
        ``RuntimeError`` once the head was sent."""
        self._check_not_prepared()
        self._status = status
        self._reason = reason

    @property
    def headers(self) -> CIMultiDict[str]:
        """The response headers, mutable until ``prepare()`` sends them (changes after
        that go nowhere). ``Date``, ``Server`` and the framing headers are filled in
        then; a CR, LF or NUL in a value makes sending fail rather than split the head."""
        return self._headers

    @property
    def last_modified(self) -> float | None:
        """The ``Last-Modified`` header as a POSIX timestamp, ``None`` when absent.

        Set it with a timestamp (an ``int`` or ``float``, as ``os.stat`` gives): aiohttp
        reads a ``datetime`` and also takes one or a string, tidewire only numbers.
        """
        value = self._headers.get("Last-Modified")
        return parsedate_to_datetime(value).timestamp() if value else None

    @last_modified.setter
    def last_modified(self, value: float) -> None:
        self._headers["Last-Modified"] = formatdate(value, usegmt=True)

    def enable_chunked_encoding(self) -> None:
        """Force chunked framing even if a length is known (HTTP/1.1 peers only)."""
        self._check_not_prepared()
        self._chunked = True

    def enable_compression(self, force: str | None = None) -> None:
        """Compress the body with gzip or deflate, whichever the request's
        ``Accept-Encoding`` prefers (``force="gzip"`` or ``"deflate"``: that one,
        whatever the client said).

        Decided when the head goes out: a response with a ``Content-Encoding``
        already, one without a body (1xx, 204, 304), a 206 range, and a client that
        accepts neither coding are sent as they are; ``Vary: Accept-Encoding`` is
        added either way. A ``Response`` is compressed whole and keeps a
        ``Content-Length``; a ``StreamResponse`` compresses each ``write`` as it goes
        and flushes it (so a stream of events still arrives event by event), framed
        chunked. Raises ``ValueError`` for another coding, ``RuntimeError`` after
        ``prepare()``.
        """
        self._check_not_prepared()
        coding = str(getattr(force, "value", force)) if force is not None else "auto"
        if coding not in ("auto", "gzip", "deflate"):
            raise ValueError(f"compression is gzip or deflate, not {coding!r}")
        self._compression = coding

    def _start_compression(self, request: Request) -> None:
        """Choose the coding as the head is about to go out (see ``enable_compression``)."""
        headers = self._headers
        status = self._status
        if status < 200 or status in (204, 206, 304) or "Content-Encoding" in headers:
            return
        add_vary(headers, "Accept-Encoding")
        coding = self._compression
        if coding == "auto":
            coding = preferred_coding(request.headers, ("gzip", "deflate"))
        if coding is None:
            return
        headers["Content-Encoding"] = coding
        headers.popall("Content-Length", None)
        self._compressor = zlib.compressobj(6, zlib.DEFLATED, 31 if coding == "gzip" else 15)
        self._compress_body()

    def _compress_body(self) -> None:
        """A body known in full is compressed now (``Response``); a stream as it goes."""
        self.content_length = None

    @property
    def keep_alive(self) -> bool | None:
        """Whether the connection stays open after this response; decided by ``prepare``."""
        return self._keep_alive

    def force_close(self) -> None:
        """Close the connection after this response even if the peer wants keep-alive."""
        self._keep_alive = False

    # -- cookies ----------------------------------------------------------------

    @property
    def cookies(self) -> SimpleCookie:
        """The cookies to set, sent as ``Set-Cookie`` headers with the head; see
        ``set_cookie``."""
        if self._cookies is None:
            self._cookies = SimpleCookie()
        return self._cookies

    def set_cookie(
        self,
        name: str,
        value: str,
        *,
        expires: str | None = None,
        domain: str | None = None,
        max_age: int | None = None,
        path: str = "/",
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = None,
    ) -> None:
        """Ask the client to store a cookie; call it before ``prepare()``, since the
        cookie goes out with the head (for a ``WebSocketResponse``, the 101): after it,
        it raises ``RuntimeError`` instead of losing the cookie.

        ``expires`` is an HTTP date string, ``max_age`` a number of seconds (it wins over
        ``expires`` in current browsers), ``domain`` and ``path`` scope the cookie,
        ``secure`` keeps it to HTTPS, ``httponly`` hides it from scripts, and
        ``samesite`` is ``"Lax"``, ``"Strict"`` or ``"None"``. Setting a name again
        updates that cookie: its value and the attributes given. Raises
        ``http.cookies.CookieError`` for a name a cookie may not have. aiohttp's
        ``version`` and ``partitioned`` arguments are not supported.
        """
        if self.prepared:
            raise RuntimeError(
                "set_cookie() after prepare(): the head that carries cookies has gone out"
            )
        cookies = self.cookies
        cookies[name] = value
        morsel = cookies[name]
        morsel["path"] = path
        for key, attr in (
            ("expires", expires),
            ("domain", domain),
            ("max-age", max_age),
            ("samesite", samesite),
        ):
            if attr is not None:
                morsel[key] = str(attr)
        if secure:
            morsel["secure"] = True
        if httponly:
            morsel["httponly"] = True

    def del_cookie(self, name: str, *, domain: str | None = None, path: str = "/") -> None:
        """Ask the client to drop ``name``: an empty value that expired in 1970. Like
        ``set_cookie``, only before ``prepare()``."""
        self.set_cookie(
            name,
            "",
            expires="Thu, 01 Jan 1970 00:00:00 GMT",
            max_age=0,
            domain=domain,
            path=path,
        )

    # -- sending ----------------------------------------------------------------

    @property
    def prepared(self) -> bool:
        """Whether ``prepare()`` ran: the head is sent, and the status, headers and
        cookies can no longer change."""
        return self._request is not None

    def _check_not_prepared(self) -> None:
        if self._request is not None:
            raise RuntimeError("the response head was already sent")

    def _body_length(self) -> int | None:
        """The body length known before the head goes out, if any."""
        return self.content_length

    def _start(self, request: Request) -> bytes:
        """Mark the response prepared for ``request`` and return its head."""
        if self._compression is not None:
            self._start_compression(request)
        head = self._head_for(request.method, request.version_minor, request.keep_alive)
        self._request = request  # only once the head exists: a failed one sent nothing
        (request._origin or request)._response = self  # a clone's answers the original
        return head

    def _head_for(self, method: str, version_minor: int, keep_alive: bool) -> bytes:
        """Decide framing and keep-alive and serialise the head."""
        status = self._status
        headers = self._headers
        if self._cookies:
            for morsel in self._cookies.values():
                headers.add("Set-Cookie", morsel.OutputString())
        if status < 200 or status in (204, 304):
            self._omit_body = True
            if status != 304:
                headers.popall("Content-Length", None)
            headers.popall("Transfer-Encoding", None)
        else:
            self._omit_body = method == "HEAD"
            length = self._body_length()
            if length is not None and not self._chunked:
                headers[CONTENT_LENGTH] = str(length)
            elif version_minor >= 1:
                self._chunked = True
                headers.popall("Content-Length", None)
                headers[TRANSFER_ENCODING] = "chunked"
            else:
                self._keep_alive = False
        if status == 101:
            self._keep_alive = False
        else:
            keep_alive = self._keep_alive is not False and keep_alive
            self._keep_alive = keep_alive
            if not keep_alive:
                headers[CONNECTION] = "close"
            elif version_minor == 0:
                headers[CONNECTION] = "keep-alive"
        if "Date" not in headers:
            headers[DATE] = http_date()
        if "Server" not in headers:
            headers[SERVER] = SERVER_SOFTWARE
        return build_head(f"HTTP/1.1 {status} {self.reason}", headers.items())

    async def prepare(self, request: Request) -> None:
        """Send the head (once); runs ``on_response_prepare`` first, of every app from
        the root to the one that routed the request."""
        if self._request is not None:
            return
        for signal in request.app._prepare_signals:
            await signal.send(request, self)
        request.protocol.write(self._start(request))

    async def write(self, data: BodyBytes) -> None:
        """Send a piece of the body; waits only while the peer is not reading."""
        request = self._request
        if request is None:
            raise RuntimeError("call prepare() before write()")
        if self._eof:
            raise RuntimeError("write() after write_eof()")
        if self._omit_body or not data:
            return
        if self._compressor is not None:
            data = self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        protocol = request.protocol
        self._sent += len(data)
        protocol.write(encode_chunk(bytes(data)) if self._chunked else data)
        if protocol.writing_paused:
            await protocol.drain()

    async def drain(self) -> None:
        """Wait until the transport's buffer fell below its low-water mark."""
        if self._request is not None:
            await self._request.protocol.drain()

    async def write_eof(self, data: BodyBytes = b"") -> None:
        """Send the last piece of the body and end it."""
        if self._eof:
            return
        if data:
            await self.write(data)
        request = self._request
        if request is None:
            raise RuntimeError("call prepare() before write_eof()")
        self._eof = True
        if self._compressor is not None and not self._omit_body:
            tail = self._compressor.flush()  # the end of the compressed stream
            self._compressor = None
            self._sent += len(tail)
            request.protocol.write(encode_chunk(tail) if self._chunked else tail)
        if self._chunked and not self._omit_body:
            request.protocol.write(LAST_CHUNK)

    def _render(self, request: Request) -> bytes:
        """Head and whole body in one buffer: the fast path for handlers that return."""
        self._eof = True
        return self._start(request)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._status} {self.reason}>"


class Response(StreamResponse):
    """A response with its whole body known up front: sent with ``Content-Length``.

    What most handlers return: ``Response(text="hello")``, ``Response(body=data,
    content_type="image/png")``. ``text`` is encoded with ``charset`` (UTF-8 by
    default) and makes the type ``text/plain`` unless ``content_type`` says otherwise;
    ``body`` (bytes-like) defaults to ``application/octet-stream`` when it has no
    ``Content-Type`` header. Passing both raises ``ValueError``. ``enable_compression()``
    compresses the whole body when the head goes out.
    """

    def __init__(
        self,
        *,
        body: BodyBytes | None = None,
        status: int = 200,
        reason: str | None = None,
        text: str | None = None,
        headers: LooseHeaders | None = None,
        content_type: str | None = None,
        charset: str | None = None,
    ) -> None:
        super().__init__(status=status, reason=reason, headers=headers)
        if text is not None:
            if body is not None:
                raise ValueError("pass either body or text, not both")
            charset = charset or "utf-8"
            self._set_content_type(content_type or "text/plain", charset)
            self._body: bytes = text.encode(charset)
        else:
            self._body = bytes(body) if body is not None else b""
            if content_type is not None:
                self._set_content_type(content_type, charset)
            elif body is not None and "Content-Type" not in self._headers:
                self._headers[CONTENT_TYPE] = "application/octet-stream"

    @property
    def body(self) -> bytes:
        """The body bytes; assigning bytes-like data replaces them (``RuntimeError``
        once the head was sent)."""
        return self._body

    @body.setter
    def body(self, value: BodyBytes) -> None:
        self._check_not_prepared()
        self._body = bytes(value)

    @property
    def text(self) -> str:
        """The body decoded with ``charset`` (UTF-8 when unset).

        Assigning encodes the text with ``charset`` (UTF-8 when unset) and, without a
        ``Content-Type`` header yet, sets ``text/plain``; ``RuntimeError`` once the
        head was sent.
        """
        return self._body.decode(self.charset or "utf-8")

    @text.setter
    def text(self, value: str) -> None:
        self._check_not_prepared()
        charset = self.charset or "utf-8"
        if "Content-Type" not in self._headers:
            self._set_content_type("text/plain", charset)
        self._body = value.encode(charset)

    def _body_length(self) -> int | None:
        return len(self._body)

    def _compress_body(self) -> None:
        self._body = self._compressor.compress(self._body) + self._compressor.flush()
        self._compressor = None  # done: write_eof sends the body as it is now

    async def write_eof(self, data: BodyBytes = b"") -> None:
        """Send the body, then ``data``, and end the response; the server calls it for a
        returned response. Only needed after an explicit ``prepare()``."""
        request = self._request
        if request is not None and not self._eof and not self._omit_body and self._body:
            request.protocol.write(self._body)
        await super().write_eof(data)

    def _render(self, request: Request) -> bytes:
        head = super()._render(request)
        return head if self._omit_body else head + self._body


def json_response(
    data: Any = None,
    *,
    text: str | None = None,
    body: BodyBytes | None = None,
    status: int = 200,
    reason: str | None = None,
    headers: LooseHeaders | None = None,
    content_type: str = "application/json",
    dumps: Callable[[Any], str] = json.dumps,
) -> Response:
    """A ``Response`` holding ``data`` serialised by ``dumps``: ``json_response({"ok":
    True})``.

    ``text`` or ``body`` send JSON already serialised instead. The content type is
    ``content_type`` (with ``; charset=utf-8`` unless ``body`` is given); the other
    arguments are ``Response``'s. What ``dumps`` raises propagates (``TypeError`` for a
    value ``json.dumps`` cannot serialise).
    """
    if body is None and text is None:
        text = dumps(data)
    return Response(
        text=text,
        body=body,
        status=status,
        reason=reason,
        headers=headers,
        content_type=content_type,
    )


# The media type of a file compressed as a whole (``mimetypes`` reports ``.gz`` as an
# encoding): clients must receive such a file byte for byte, so it is served as what
# it is, never with a Content-Encoding that would make them unpack it.
_COMPRESSED_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "br": "application/x-brotli",
    "compress": "application/x-compress",
}


class FileResponse(StreamResponse):
    """A file from disk, with ranges, conditional GET and ``loop.sendfile`` when possible.

    ``return FileResponse(path)`` from a handler; static routes use it too. The file is
    opened when the response is prepared, not when it is created: a missing file is
    answered with 404 and an unreadable one with 403, not raised. ``Content-Type`` is
    guessed from the file name unless ``headers`` set it; ``Last-Modified`` is the
    file's, and with ``etag`` (the default) an ``ETag`` from its modification time and
    size is sent and matched against ``If-None-Match`` (304 when it matches;
    ``If-Modified-Since`` is honoured too). Over TLS, or where the loop has no
    ``sendfile``, the file is sent in reads of ``chunk_size`` bytes. A client that
    accepts gzip is sent ``name.gz`` when it lies beside the file (compressed ahead of
    time, say at build time), with ``Content-Encoding: gzip`` and the type of the
    file itself.

    A single ``Range: bytes=...`` is answered with 206 (or 416 when unsatisfiable); a
    multi-range request gets the whole file, which RFC 9110 allows.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        chunk_size: int = 256 * 1024,
        status: int = 200,
        reason: str | None = None,
        headers: LooseHeaders | None = None,
        etag: bool = True,
    ) -> None:
        super().__init__(status=status, reason=reason, headers=headers)
        self._path = Path(path)
        self._chunk_size = chunk_size
        self._etag = etag
        self._error_body = b""

    async def prepare(self, request: Request) -> None:
        """Open the file, then send the head and the file (or the part a ``Range`` asks
        for), or the 304, 404, 403 or 416 that answers the request instead.

        Raises ``ConnectionResetError`` when the client goes away, or when the file
        shrinks while it is read in chunks (see the class docstring).
        """
        if self.prepared:
            return
        loop = asyncio.get_running_loop()
        gzip_ok = "Content-Encoding" not in self._headers and (
            preferred_coding(request.headers, ("gzip",)) is not None
        )
        try:
            handle, st, coding = await loop.run_in_executor(None, self._open, gzip_ok)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            self._set_error(404)
            await super().prepare(request)
            return
        except PermissionError:
            self._set_error(403)
            await super().prepare(request)
            return
        if coding is not None:
            self._headers["Content-Encoding"] = coding
            add_vary(self._headers, "Accept-Encoding")
        try:
            await self._send_file(request, handle, st)
        finally:
            await loop.run_in_executor(None, handle.close)

    def _open(self, gzip_ok: bool) -> tuple[BinaryIO, os.stat_result, str | None]:
        """The file, or its gzip-compressed copy beside it (``name.gz``) for a client
        that accepts gzip; with the coding served (None: the file as it is)."""
        if not os.path.isfile(self._path):  # missing, or a directory: 404 either way
            raise FileNotFoundError(str(self._path))
        path, coding = self._path, None
        if gzip_ok:
            packed = self._path.with_name(self._path.name + ".gz")
            if packed.is_file():
                path, coding = packed, "gzip"
        handle = path.open("rb")
        try:
            st = os.fstat(handle.fileno())
        except BaseException:
            handle.close()
            raise
        return handle, st, coding

    def _set_error(self, status: int) -> None:
        self.set_status(status)
        text = f"{status}: {reason_phrase(status)}".encode()
        self._headers[CONTENT_TYPE] = "text/plain; charset=utf-8"
        self.content_length = len(text)
        self._error_body = text

    async def _send_file(self, request: Request, handle: BinaryIO, st: os.stat_result) -> None:
        size = st.st_size
        headers = self._headers
        mtime = int(st.st_mtime)
        self.last_modified = mtime
        etag = f'"{st.st_mtime_ns:x}-{size:x}"' if self._etag else None
        if etag:
            headers["ETag"] = etag
        headers.setdefault("Accept-Ranges", "bytes")
        if "Content-Type" not in headers:
            ctype, encoding = mimetypes.guess_type(self._path.name)
            if encoding:  # a compressed file is the download: no Content-Encoding
                ctype = _COMPRESSED_TYPES.get(encoding, "application/octet-stream")
            headers[CONTENT_TYPE] = ctype or "application/octet-stream"
        if _not_modified(request, etag, mtime):
            self.set_status(304)
            await super().prepare(request)
            return
        start, length = 0, size
        ranges = request.headers.get("Range")
        if ranges is not None and request.method in ("GET", "HEAD"):
            span = parse_range(ranges, size)
            if span is None:
                self.set_status(416)
                headers["Content-Range"] = f"bytes */{size}"
                self.content_length = 0
                await super().prepare(request)
                return
            if span != (0, size):
                start, length = span[0], span[1] - span[0]
                self.set_status(206)
                headers["Content-Range"] = f"bytes {start}-{span[1] - 1}/{size}"
        self.content_length = length
        await super().prepare(request)
        if not self._omit_body and length:
            await self._write_file(request, handle, start, length)

    async def _write_file(
        self, request: Request, handle: BinaryIO, start: int, length: int
    ) -> None:
        protocol = request.protocol
        transport = protocol.transport
        loop = asyncio.get_running_loop()
        plain = self._compressor is None  # sendfile would skip enable_compression()
        if plain and transport is not None and transport.get_extra_info("sslcontext") is None:
            try:
                await protocol.drain()
                await loop.sendfile(transport, handle, start, length)
                return
            except (NotImplementedError, AttributeError):
                pass  # uvloop and some transports: fall back to reading in chunks
        handle.seek(start)
        remaining = length
        while remaining > 0:
            chunk = await loop.run_in_executor(None, handle.read, min(self._chunk_size, remaining))
            if not chunk:
                raise ConnectionResetError(f"{self._path} shrank while being sent")
            remaining -= len(chunk)
            await self.write(chunk)

    async def write_eof(self, data: BodyBytes = b"") -> None:
        """End the response; ``prepare()`` already sent the file (or the error's body
        is sent now)."""
        await super().write_eof(self._error_body or data)


def _not_modified(request: Request, etag: str | None, mtime: int) -> bool:
    """RFC 9110 conditional GET: ``If-None-Match`` wins over ``If-Modified-Since``."""
    if request.method not in ("GET", "HEAD"):
        return False
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        if etag is None:
            return False
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag in tags
    since = request.headers.get("If-Modified-Since")
    if since is None:
        return False
    try:
        return mtime <= parsedate_to_datetime(since).timestamp()
    except (TypeError, ValueError):
        return False


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """The half-open span a single ``bytes=`` range selects; ``(0, size)`` means the whole
    file (a malformed or multi-range header is ignored), ``None`` means unsatisfiable."""
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return (0, size)
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return (0, size)
    if first == "":
        if last == "":
            return (0, size)
        suffix = int(last)
        if suffix == 0 or size == 0:
            return None
        return (max(size - suffix, 0), size)
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size or end <= start:
        return None
    return (start, end)
