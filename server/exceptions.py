"""The HTTPException family: each one is a ``Response`` a handler may raise or return.

Raising unwinds through middlewares like any exception; the server then sends the
exception itself as the response. The default body is ``"<status>: <reason>"``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tidewire.protocol.http import reason_phrase
from tidewire.server.response import LooseHeaders, Response

__all__ = [
    "HTTPAccepted",
    "HTTPBadGateway",
    "HTTPBadRequest",
    "HTTPClientError",
    "HTTPConflict",
    "HTTPCreated",
    "HTTPError",
    "HTTPException",
    "HTTPExpectationFailed",
    "HTTPForbidden",
    "HTTPFound",
    "HTTPGatewayTimeout",
    "HTTPGone",
    "HTTPInternalServerError",
    "HTTPLengthRequired",
    "HTTPMethodNotAllowed",
    "HTTPMovedPermanently",
    "HTTPNoContent",
    "HTTPNotAcceptable",
    "HTTPNotFound",
    "HTTPNotImplemented",
    "HTTPNotModified",
    "HTTPOk",
    "HTTPPermanentRedirect",
    "HTTPPreconditionFailed",
    "HTTPRedirection",
    "HTTPRequestEntityTooLarge",
    "HTTPRequestHeaderFieldsTooLarge",
    "HTTPRequestRangeNotSatisfiable",
    "HTTPRequestTimeout",
    "HTTPRequestURITooLong",
    "HTTPSeeOther",
    "HTTPServerError",
    "HTTPServiceUnavailable",
    "HTTPSuccessful",
    "HTTPTemporaryRedirect",
    "HTTPTooManyRequests",
    "HTTPUnauthorized",
    "HTTPUnprocessableEntity",
    "HTTPUnsupportedMediaType",
    "HTTPUpgradeRequired",
]


class HTTPException(Response, Exception):
    """Base of the family; subclasses set ``status_code``."""

    status_code = 0

    def __init__(
        self,
        *,
        headers: LooseHeaders | None = None,
        reason: str | None = None,
        text: str | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> None:
        if text is None and body is None and self.status_code not in (204, 304):
            text = f"{self.status_code}: {reason or reason_phrase(self.status_code)}"
        Response.__init__(
            self,
            status=self.status_code,
            reason=reason,
            headers=headers,
            text=text,
            body=body,
            content_type=content_type,
        )
        Exception.__init__(self, self.reason)

    def __str__(self) -> str:
        return self.reason

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.reason}>"


class HTTPError(HTTPException):
    """4xx and 5xx."""


class HTTPSuccessful(HTTPException):
    """2xx, for handlers that prefer ``raise HTTPCreated()`` to a return."""


class HTTPRedirection(HTTPException):
    """3xx; the redirects carry a ``Location``."""


class HTTPClientError(HTTPError):
    """4xx."""


class HTTPServerError(HTTPError):
    """5xx."""


class HTTPOk(HTTPSuccessful):
    status_code = 200


class HTTPCreated(HTTPSuccessful):
    status_code = 201


class HTTPAccepted(HTTPSuccessful):
    status_code = 202


class HTTPNoContent(HTTPSuccessful):
    status_code = 204


class HTTPNotModified(HTTPRedirection):
    status_code = 304


class _HTTPMove(HTTPRedirection):
    def __init__(self, location: str, **kwargs: Any) -> None:
        """``kwargs`` are ``HTTPException``'s."""
        if not location:
            raise ValueError("a redirect needs a location")
        super().__init__(**kwargs)
        self.headers["Location"] = str(location)
        self.location = str(location)


class HTTPMovedPermanently(_HTTPMove):
    status_code = 301


class HTTPFound(_HTTPMove):
    status_code = 302


class HTTPSeeOther(_HTTPMove):
    status_code = 303


class HTTPTemporaryRedirect(_HTTPMove):
    status_code = 307


class HTTPPermanentRedirect(_HTTPMove):
    status_code = 308


class HTTPBadRequest(HTTPClientError):
    status_code = 400


class HTTPUnauthorized(HTTPClientError):
    status_code = 401


class HTTPForbidden(HTTPClientError):
    status_code = 403


class HTTPNotFound(HTTPClientError):
    status_code = 404


class HTTPMethodNotAllowed(HTTPClientError):
    """405 with the ``Allow`` header RFC 9110 requires."""

    status_code = 405

    def __init__(self, method: str, allowed_methods: Iterable[str], **kwargs: Any) -> None:
        """``kwargs`` are ``HTTPException``'s."""
        super().__init__(**kwargs)
        self.method = method.upper()
        self.allowed_methods = frozenset(allowed_methods)
        self.headers["Allow"] = ", ".join(sorted(self.allowed_methods))


class HTTPNotAcceptable(HTTPClientError):
    status_code = 406


class HTTPRequestTimeout(HTTPClientError):
    status_code = 408


class HTTPConflict(HTTPClientError):
    status_code = 409


class HTTPGone(HTTPClientError):
    status_code = 410


class HTTPLengthRequired(HTTPClientError):
    status_code = 411


class HTTPPreconditionFailed(HTTPClientError):
    status_code = 412


class HTTPRequestEntityTooLarge(HTTPClientError):
    status_code = 413


class HTTPRequestURITooLong(HTTPClientError):
    status_code = 414


class HTTPUnsupportedMediaType(HTTPClientError):
    status_code = 415


class HTTPRequestRangeNotSatisfiable(HTTPClientError):
    status_code = 416


class HTTPExpectationFailed(HTTPClientError):
    status_code = 417


class HTTPUnprocessableEntity(HTTPClientError):
    status_code = 422


class HTTPUpgradeRequired(HTTPClientError):
    status_code = 426


class HTTPTooManyRequests(HTTPClientError):
    status_code = 429


class HTTPRequestHeaderFieldsTooLarge(HTTPClientError):
    status_code = 431


class HTTPInternalServerError(HTTPServerError):
    status_code = 500


class HTTPNotImplemented(HTTPServerError):
    status_code = 501


class HTTPBadGateway(HTTPServerError):
    status_code = 502


class HTTPServiceUnavailable(HTTPServerError):
    status_code = 503


class HTTPGatewayTimeout(HTTPServerError):
    status_code = 504
