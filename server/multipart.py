"""``multipart/form-data`` (RFC 7578) decoding for ``Request.post()``.

The body is parsed whole: ``post()`` reads it under ``client_max_size`` first, so the
uploads are bounded and held in memory (``io.BytesIO``) rather than in temporary files.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from urllib.parse import unquote

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict

__all__ = ["FileField", "parse_form_data"]

_PARAM = re.compile(r';\s*([\w!#$%&\'*+.^`|~-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


@dataclass(frozen=True)
class FileField:
    """One uploaded file of a form."""

    name: str
    filename: str
    file: io.BytesIO
    content_type: str
    headers: CIMultiDictProxy[str]


class MultipartError(ValueError):
    """The body does not follow the multipart syntax."""


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


def parse_form_data(
    body: bytes, boundary: str, charset: str = "utf-8"
) -> MultiDict[str | FileField]:
    """Fields as ``str`` and files as ``FileField``, in body order."""
    delimiter = b"--" + boundary.encode("latin-1")
    form: MultiDict[str | FileField] = MultiDict()
    pos = body.find(delimiter)
    if pos < 0:
        raise MultipartError("no boundary in the body")
    pos += len(delimiter)
    while not body.startswith(b"--", pos):
        line_end = body.find(b"\r\n", pos)
        end = body.find(b"\r\n" + delimiter, pos)
        if line_end < 0 or end < 0:
            raise MultipartError("unterminated part")
        part = body[line_end + 2 : end]
        pos = end + 2 + len(delimiter)
        if part.startswith(b"\r\n"):
            head, content = b"", part[2:]
        else:
            head, sep, content = part.partition(b"\r\n\r\n")
            if not sep:
                raise MultipartError("part without a blank line after its headers")
        headers: CIMultiDict[str] = CIMultiDict()
        for line in head.decode("utf-8", "surrogateescape").split("\r\n"):
            header, colon, value = line.partition(":")
            if not colon:
                raise MultipartError(f"malformed part header {line!r}")
            headers.add(header.strip(), value.strip())
        params = disposition_params(headers.get("Content-Disposition", ""))
        name = params.get("name")
        if name is None:
            raise MultipartError("part without a name")
        filename = params.get("filename")
        if filename is None:
            form.add(name, content.decode(charset))
        else:
            form.add(
                name,
                FileField(
                    name=name,
                    filename=filename,
                    file=io.BytesIO(content),
                    content_type=headers.get("Content-Type", "application/octet-stream"),
                    headers=CIMultiDictProxy(headers),
                ),
            )
    return form
