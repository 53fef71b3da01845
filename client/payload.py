"""Turning what a user passes as ``data=``/``json=`` into bytes or a stream to send."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from typing import Any, NamedTuple

from .formdata import FormData

FILE_CHUNK = 64 * 1024


class Body(NamedTuple):
    """A request body: bytes (replayable) or a one-shot stream, with what headers need."""

    data: bytes | AsyncIterable[bytes] | None
    content_type: str | None = None
    length: int | None = None

    @property
    def replayable(self) -> bool:
        """Whether the body can be sent again (for a retry or a 307/308 redirect)."""
        return not isinstance(self.data, AsyncIterable)


NO_BODY = Body(None, None, 0)


async def _file_chunks(file: io.IOBase) -> AsyncIterator[bytes]:
    while chunk := file.read(FILE_CHUNK):
        yield chunk.encode() if isinstance(chunk, str) else bytes(chunk)


def _remaining_size(file: io.IOBase) -> int | None:
    """Bytes left in a binary file, or ``None`` if that cannot be known (pipes, text)."""
    if isinstance(file, io.TextIOBase):
        return None
    try:
        return os.fstat(file.fileno()).st_size - file.tell()
    except (OSError, AttributeError, io.UnsupportedOperation):
        return None


def make_body(data: Any, json: Any, json_serialize: Callable[[Any], str]) -> Body:
    """The body for a request's ``data``/``json`` arguments (at most one of them)."""
    if json is not None:
        if data is not None:
            raise ValueError("data and json cannot be given together")
        encoded = json_serialize(json).encode()
        return Body(encoded, "application/json", len(encoded))
    if data is None:
        return NO_BODY
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        return Body(raw, "application/octet-stream", len(raw))
    if isinstance(data, str):
        encoded = data.encode()
        return Body(encoded, "text/plain; charset=utf-8", len(encoded))
    if isinstance(data, (Mapping, list, tuple)):
        data = FormData(data)
    if isinstance(data, FormData):
        encoded = data.encode()
        return Body(encoded, data.content_type, len(encoded))
    if isinstance(data, io.IOBase):
        return Body(_file_chunks(data), "application/octet-stream", _remaining_size(data))
    if isinstance(data, AsyncIterable):
        return Body(data, "application/octet-stream", None)
    if isinstance(data, Iterable):
        raise TypeError("a synchronous iterable body is not supported; pass an async iterable")
    raise TypeError(f"cannot send a {type(data).__name__} as a request body")
