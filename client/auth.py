"""HTTP Basic authentication credentials."""

from __future__ import annotations

import binascii
from base64 import b64decode, b64encode
from typing import NamedTuple

from yarl import URL


class BasicAuth(NamedTuple):
    """Login and password sent as ``Authorization: Basic ...``."""

    login: str
    password: str = ""
    encoding: str = "latin1"

    def encode(self) -> str:
        """The value of the Authorization header."""
        creds = f"{self.login}:{self.password}".encode(self.encoding)
        return "Basic " + b64encode(creds).decode("ascii")

    @classmethod
    def decode(cls, auth_header: str, encoding: str = "latin1") -> BasicAuth:
        """Credentials from an Authorization header value; ``ValueError`` if it is not Basic."""
        scheme, _, token = auth_header.strip().partition(" ")
        if scheme.lower() != "basic":
            raise ValueError(f"Unknown authorization method {scheme!r}")
        try:
            decoded = b64decode(token.strip(), validate=True).decode(encoding)
        except (binascii.Error, UnicodeDecodeError) as error:
            raise ValueError("Invalid base64 encoding in Basic credentials") from error
        login, sep, password = decoded.partition(":")
        if not sep:
            raise ValueError("Basic credentials have no ':' separator")
        return cls(login, password, encoding)

    @classmethod
    def from_url(cls, url: URL, encoding: str = "latin1") -> BasicAuth | None:
        """Credentials from ``user:password@`` in a URL, if any."""
        if url.user is None:
            return None
        return cls(url.user, url.password or "", encoding)
