"""Request bodies built from form fields: urlencoded, or multipart/form-data with files."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode


def _quote(value: str) -> str:
    """A quoted-string for a Content-Disposition parameter (as browsers encode them)."""
    return (
        '"'
        + value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
        + '"'
    )


class FormData:
    """Form fields to send as a request body (``session.post(url, data=form)``).

    ``fields`` is a mapping or ``(name, value)`` pairs, added as ``add_fields`` would;
    ``charset`` encodes the text. The body is ``application/x-www-form-urlencoded``
    until a field is a file, bytes, or has a ``filename`` or a ``content_type``; from
    then on it is ``multipart/form-data``.
    """

    __slots__ = ("_boundary", "_charset", "_fields", "_multipart")

    def __init__(
        self,
        fields: Mapping[str, Any] | Iterable[tuple[str, Any]] = (),
        *,
        charset: str = "utf-8",
    ) -> None:
        self._fields: list[tuple[str, Any, str | None, str | None]] = []
        self._multipart = False
        self._charset = charset
        self._boundary = uuid.uuid4().hex
        self.add_fields(*(fields.items() if isinstance(fields, Mapping) else fields))

    @property
    def is_multipart(self) -> bool:
        """Whether the body goes as multipart/form-data (a field made it so)."""
        return self._multipart

    def add_field(
        self,
        name: str,
        value: Any,
        *,
        content_type: str | None = None,
        filename: str | None = None,
    ) -> None:
        """Add one field; a file object or ``filename`` makes the form multipart."""
        if isinstance(value, io.IOBase) and filename is None:
            path = getattr(value, "name", None)
            filename = os.path.basename(path) if isinstance(path, str) else name
        if (
            filename is not None
            or content_type is not None
            or isinstance(value, (bytes, bytearray, io.IOBase))
        ):
            self._multipart = True
        self._fields.append((name, value, content_type, filename))

    def add_fields(self, *fields: tuple[str, Any]) -> None:
        """Add ``(name, value)`` pairs, each as ``add_field(name, value)``."""
        for name, value in fields:
            self.add_field(name, value)

    @property
    def content_type(self) -> str:
        """The Content-Type header of the body, with the multipart boundary if any."""
        if self._multipart:
            return f"multipart/form-data; boundary={self._boundary}"
        return "application/x-www-form-urlencoded"

    def encode(self) -> bytes:
        """The whole body; file fields are read here, so keep huge files for streaming."""
        if not self._multipart:
            pairs = [(name, str(value)) for name, value, _, _ in self._fields]
            return urlencode(pairs, doseq=True, encoding=self._charset).encode("ascii")
        boundary = self._boundary.encode("ascii")
        parts: list[bytes] = []
        for name, value, content_type, filename in self._fields:
            disposition = f"form-data; name={_quote(name)}"
            if filename is not None:
                disposition += f"; filename={_quote(filename)}"
            data = self._field_bytes(value)
            kind = content_type or (
                "application/octet-stream"
                if filename is not None or not isinstance(value, str)
                else f"text/plain; charset={self._charset}"
            )
            head = (f"Content-Disposition: {disposition}\r\nContent-Type: {kind}\r\n\r\n").encode(
                self._charset
            )
            parts.append(b"--%s\r\n%s%s\r\n" % (boundary, head, data))
        parts.append(b"--%s--\r\n" % boundary)
        return b"".join(parts)

    def _field_bytes(self, value: Any) -> bytes:
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        if isinstance(value, io.IOBase):
            data = value.read()
            return data.encode(self._charset) if isinstance(data, str) else bytes(data)
        return str(value).encode(self._charset)
