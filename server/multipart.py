"""``multipart/form-data`` (RFC 7578, RFC 2046 section 5.1) read as it arrives.

``await request.multipart()`` gives a ``MultipartReader``: its parts come one after the
other from the body stream, and a part's content is read in chunks
(``part.read_chunk()``), so a file upload of any size passes through a handler in
pieces rather than being held whole. Reading the next part skips what was left of the
one before. ``request.post()`` reads the whole (bounded) body with the same parser and
keeps each file in memory as a ``FileField``.

Syntax errors raise ``HTTPBadRequest``: uncaught, the client gets a 400 saying what
was wrong.
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import unquote

from multidict import CIMultiDict, CIMultiDictProxy

from tidewire.protocol.stream import BodyStream
from tidewire.server.exceptions import HTTPBadRequest

__all__ = ["BodyPart", "FileField", "MultipartReader"]

_PARAM = re.compile(r';\s*([\w!#$%&\'*+.^`|~-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
MAX_PART_HEAD = 16 * 1024  # bytes of one part's headers
DEFAULT_CHUNK = 64 * 1024


@dataclass(frozen=True)
class FileField:
    """One uploaded file of a form read by ``request.post()``, held in memory."""

    name: str
    filename: str
    file: io.BytesIO
    content_type: str
    headers: CIMultiDictProxy[str]


def disposition_params(value: str) -> dict[str, str]:
    """The parameters of a ``Content-Disposition`` value; ``filename*`` (RFC 8187) wins
    over ``filename``."""
    params: dict[str, str] = {}
    for key, raw in _PARAM.findall(value):
        val = raw.strip()
        if val.startswith('"'):
            val = re.sub(r"\\(.)", r"\1", val[1:-1])
        params[key.lower()] = val
    extended = params.pop("filename*", None)
    if extended is not None:
        charset, _, rest = extended.partition("'")
        _, _, encoded = rest.partition("'")
        params["filename"] = unquote(encoded, encoding=charset or "utf-8")
    return params


def _malformed(why: str) -> HTTPBadRequest:
    return HTTPBadRequest(text=f"malformed multipart body: {why}")


class BodyPart:
    """One part of a multipart body: its ``headers``, the form field's ``name``, the
    uploaded file's ``filename`` (None for a plain field), and its content, read with
    ``read_chunk()`` until it returns ``b""``, or whole with ``read()``/``text()``.
    ``async for chunk in part`` reads it in chunks too."""

    __slots__ = ("_done", "_reader", "filename", "headers", "name")

    def __init__(self, reader: MultipartReader, headers: CIMultiDictProxy[str]) -> None:
        self._reader = reader
        self._done = False
        self.headers = headers
        params = disposition_params(headers.get("Content-Disposition", ""))
        self.name: str | None = params.get("name")
        self.filename: str | None = params.get("filename")

    @property
    def content_type(self) -> str:
        """The part's media type (``text/plain`` when it names none, RFC 7578)."""
        return self.headers.get("Content-Type", "text/plain").partition(";")[0].strip()

    async def read_chunk(self, size: int = DEFAULT_CHUNK) -> bytes:
        """Up to ``size`` bytes of the content as soon as some are there; ``b""`` once
        the part is over."""
        if self._done:
            return b""
        chunk, ended = await self._reader._content_chunk(size)
        if ended:
            self._done = True
        return chunk

    async def read(self) -> bytes:
        """The rest of the content, whole (mind its size: ``read_chunk`` streams)."""
        parts = []
        while chunk := await self.read_chunk():
            parts.append(chunk)
        return b"".join(parts)

    async def text(self, charset: str = "utf-8") -> str:
        """The rest of the content decoded; ``HTTPBadRequest`` if it does not decode."""
        try:
            return (await self.read()).decode(charset)
        except (UnicodeDecodeError, LookupError) as exc:
            raise _malformed(f"part {self.name!r}: {exc}") from None

    async def release(self) -> None:
        """Skip the rest of the content."""
        while await self.read_chunk():
            pass

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while chunk := await self.read_chunk():
            yield chunk


class MultipartReader:
    """The parts of a multipart body, in order, as the body arrives:
    ``async for part in reader`` or ``part = await reader.next()`` (None after the
    last). Made by ``request.multipart()``."""

    __slots__ = ("_buffer", "_current", "_delimiter", "_finished", "_stream", "_stream_eof")

    def __init__(self, stream: BodyStream, boundary: str) -> None:
        if not 0 < len(boundary) <= 70:
            raise _malformed("the boundary must be 1 to 70 characters")
        self._stream = stream
        self._delimiter = b"\r\n--" + boundary.encode("latin-1")
        # A CRLF in front lets the first delimiter be found as every other one is.
        self._buffer = bytearray(b"\r\n")
        self._stream_eof = False
        self._current: BodyPart | None = None
        self._finished = False

    async def _fill(self) -> bool:
        """Read more of the body into the buffer; False at its end."""
        if self._stream_eof:
            return False
        chunk = await self._stream.readany()
        if not chunk:
            self._stream_eof = True
            return False
        self._buffer += chunk
        return True

    async def _content_chunk(self, size: int) -> tuple[bytes, bool]:
        """Up to ``size`` bytes of the current part, and whether it ended there (the
        delimiter after it is left in the buffer)."""
        delimiter = self._delimiter
        while True:
            found = self._buffer.find(delimiter)
            if found >= 0:
                take = min(found, size)
                chunk = bytes(self._buffer[:take])
                del self._buffer[:take]
                return chunk, take == found
            # Hold back what could be the start of a delimiter cut by the network.
            safe = len(self._buffer) - len(delimiter) + 1
            if safe > 0:
                take = min(safe, size)
                chunk = bytes(self._buffer[:take])
                del self._buffer[:take]
                return chunk, False
            if not await self._fill():
                raise _malformed("the body ended inside a part")

    async def next(self) -> BodyPart | None:
        """The next part (what was left of the one before is skipped), or None after
        the last; ``HTTPBadRequest`` for a body that breaks the syntax."""
        if self._finished:
            return None
        if self._current is not None:
            await self._current.release()
        else:  # the preamble: everything up to the first delimiter
            while not (await self._content_chunk(DEFAULT_CHUNK))[1]:
                pass
        buffer = self._buffer
        while len(buffer) < len(self._delimiter) + 2:
            if not await self._fill():
                raise _malformed("the body ended inside a delimiter")
        del buffer[: len(self._delimiter)]
        if buffer.startswith(b"--"):  # the close delimiter; the epilogue is ignored
            self._finished = True
            self._current = None
            return None
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            if len(buffer) > MAX_PART_HEAD:
                raise _malformed(f"a part's headers exceed {MAX_PART_HEAD} bytes")
            if not await self._fill():
                raise _malformed("the body ended inside a part's headers")
        head = bytes(buffer[:end])
        del buffer[: end + 4]
        first, _, lines = head.partition(b"\r\n")
        if first.strip(b" \t"):  # only transport padding may follow a delimiter
            raise _malformed("text after a delimiter")
        headers: CIMultiDict[str] = CIMultiDict()
        for line in lines.decode("utf-8", "surrogateescape").split("\r\n") if lines else ():
            name, colon, value = line.partition(":")
            if not colon or not name.strip():
                raise _malformed(f"a part header {line!r}")
            headers.add(name.strip(), value.strip())
        self._current = BodyPart(self, CIMultiDictProxy(headers))
        return self._current

    def __aiter__(self) -> MultipartReader:
        return self

    async def __anext__(self) -> BodyPart:
        part = await self.next()
        if part is None:
            raise StopAsyncIteration
        return part
