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
    """Base of the family: a ``Response`` that is also an exception.

    ``raise HTTPNotFound()`` in a handler (or a middleware) and the server answers with
    it; returning it works as well (aiohttp deprecates that, tidewire does not). A
    middleware may catch one and answer differently. Each subclass fixes
    ``status_code``; catch ``HTTPClientError`` or ``HTTPServerError`` for a range.

    The keyword arguments are ``Response``'s: ``headers``, ``reason`` (the standard
    phrase when omitted), and a body as ``text`` or ``body`` with ``content_type``.
    Without a body the response carries ``"<status>: <reason>"`` as text/plain (204 and
    304 carry none). ``str(exc)`` is the reason.
    """

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
    """3xx; the redirects (all but 304) take the target URL first and send it as
    ``Location``."""


class HTTPClientError(HTTPError):
    """4xx."""


class HTTPServerError(HTTPError):
    """5xx."""


class HTTPOk(HTTPSuccessful):
    """200 OK, as an exception: for code that answers from deep in its call stack."""

    status_code = 200


class HTTPCreated(HTTPSuccessful):
    """201 Created: the request made a resource; say where with
    ``headers={"Location": url}``."""

    status_code = 201


class HTTPAccepted(HTTPSuccessful):
    """202 Accepted: the request was queued and will be processed later."""

    status_code = 202


class HTTPNoContent(HTTPSuccessful):
    """204 No Content: success with no body (none is sent even if given)."""

    status_code = 204


class HTTPNotModified(HTTPRedirection):
    """304 Not Modified: the client's cached copy is current; no body.

    ``FileResponse`` answers conditional GETs with 304 by itself."""

    status_code = 304


class _HTTPMove(HTTPRedirection):
    """A redirect: ``location`` (required) becomes the ``Location`` header and the
    ``location`` attribute."""

    def __init__(self, location: str, **kwargs: Any) -> None:
        """``kwargs`` are ``HTTPException``'s; ``ValueError`` for an empty location."""
        if not location:
            raise ValueError("a redirect needs a location")
        super().__init__(**kwargs)
        self.headers["Location"] = str(location)
        self.location = str(location)


class HTTPMovedPermanently(_HTTPMove):
    """301 Moved Permanently to ``location`` (clients may turn a POST into
    a GET; ``HTTPPermanentRedirect`` keeps the method)."""

    status_code = 301


class HTTPFound(_HTTPMove):
    """302 Found: a temporary redirect to ``location``, the first argument.

    ``raise HTTPFound("/login")``. Clients may turn a POST into a GET;
    ``HTTPTemporaryRedirect`` keeps the method, ``HTTPSeeOther`` asks for a GET."""

    status_code = 302


class HTTPSeeOther(_HTTPMove):
    """303 See Other: after a POST, tell the client to GET ``location``."""

    status_code = 303


class HTTPTemporaryRedirect(_HTTPMove):
    """307 Temporary Redirect to ``location``; the client repeats the same
    method and body there."""

    status_code = 307


class HTTPPermanentRedirect(_HTTPMove):
    """308 Permanent Redirect to ``location``; the client repeats the same
    method and body there."""

    status_code = 308


class HTTPBadRequest(HTTPClientError):
    """400 Bad Request: the request is malformed.

    The server answers it itself to what llhttp cannot parse, a body that ends early,
    ``Transfer-Encoding`` in an HTTP/1.0 request, a coding list not ending in chunked,
    and an invalid request target. ``request.post()`` raises it for a malformed
    multipart body, ``WebSocketResponse.prepare`` for an invalid handshake."""

    status_code = 400


class HTTPUnauthorized(HTTPClientError):
    """401 Unauthorized: credentials are missing or wrong; add a
    ``WWW-Authenticate`` header that says which scheme to use."""

    status_code = 401


class HTTPForbidden(HTTPClientError):
    """403 Forbidden: the client may not have this, whoever it is.

    Static routes answer it for a directory; ``WebSocketResponse.prepare`` raises it
    when ``origin_check`` refuses the Origin."""

    status_code = 403


class HTTPNotFound(HTTPClientError):
    """404 Not Found: the router answers it when no route matches the path;
    handlers raise it for a resource that does not exist."""

    status_code = 404


class HTTPMethodNotAllowed(HTTPClientError):
    """405 Method Not Allowed, with the ``Allow`` header RFC 9110 requires.

    ``HTTPMethodNotAllowed(method, allowed_methods)``, as in aiohttp. The router answers
    it when the path has routes for other methods only; ``WebSocketResponse.prepare``
    raises it for an upgrade request that is not a GET.
    """

    status_code = 405

    def __init__(self, method: str, allowed_methods: Iterable[str], **kwargs: Any) -> None:
        """``kwargs`` are ``HTTPException``'s."""
        super().__init__(**kwargs)
        self.method = method.upper()
        self.allowed_methods = frozenset(allowed_methods)
        self.headers["Allow"] = ", ".join(sorted(self.allowed_methods))


class HTTPNotAcceptable(HTTPClientError):
    """406 Not Acceptable: no representation matches the ``Accept`` headers."""

    status_code = 406


class HTTPRequestTimeout(HTTPClientError):
    """408 Request Timeout: the server answers it when a request's head
    does not arrive within ``Limits.head_timeout``, then closes the connection."""

    status_code = 408


class HTTPConflict(HTTPClientError):
    """409 Conflict: the request conflicts with the resource's current state."""

    status_code = 409


class HTTPGone(HTTPClientError):
    """410 Gone: the resource existed and was removed for good."""

    status_code = 410


class HTTPLengthRequired(HTTPClientError):
    """411 Length Required: the handler needs a ``Content-Length``."""

    status_code = 411


class HTTPPreconditionFailed(HTTPClientError):
    """412 Precondition Failed: an ``If-Match`` or ``If-Unmodified-Since``
    condition is false."""

    status_code = 412


class HTTPRequestEntityTooLarge(HTTPClientError):
    """413 Request Entity Too Large: the body is over the application's
    ``client_max_size``.

    The server answers it before the handler runs when ``Content-Length`` announces
    such a body; a body that grows past the bound as it arrives (chunked) makes
    ``request.read()`` and the ``request.content`` stream raise it, and the connection
    closes after the answer."""

    status_code = 413


class HTTPRequestURITooLong(HTTPClientError):
    """414 Request-URI Too Long: the server answers it when the request
    target is over ``Limits.max_target_size``."""

    status_code = 414


class HTTPUnsupportedMediaType(HTTPClientError):
    """415 Unsupported Media Type: the handler cannot read a body of
    this ``Content-Type``."""

    status_code = 415


class HTTPRequestRangeNotSatisfiable(HTTPClientError):
    """416 Requested Range Not Satisfiable: the ``Range`` lies outside
    the resource; ``FileResponse`` answers it by itself, with ``Content-Range``."""

    status_code = 416


class HTTPExpectationFailed(HTTPClientError):
    """417 Expectation Failed: the server answers it to an ``Expect``
    header other than ``100-continue``."""

    status_code = 417


class HTTPUnprocessableEntity(HTTPClientError):
    """422 Unprocessable Entity: the body parses but its content is
    invalid (a failed validation)."""

    status_code = 422


class HTTPUpgradeRequired(HTTPClientError):
    """426 Upgrade Required: ``WebSocketResponse.prepare`` raises it when
    the client asks for a WebSocket version other than 13 (with
    ``Sec-WebSocket-Version: 13``)."""

    status_code = 426


class HTTPTooManyRequests(HTTPClientError):
    """429 Too Many Requests: rate limiting; a ``Retry-After`` header says
    when to come back."""

    status_code = 429


class HTTPRequestHeaderFieldsTooLarge(HTTPClientError):
    """431 Request Header Fields Too Large: the server answers it when
    the request line and headers together are over ``Limits.max_head_size`` bytes, or
    there are more than ``Limits.max_headers`` header fields, then closes."""

    status_code = 431


class HTTPInternalServerError(HTTPServerError):
    """500 Internal Server Error: the server answers it when a handler
    raises anything but an ``HTTPException`` (logged to ``app.logger``) or returns
    something other than a response."""

    status_code = 500


class HTTPNotImplemented(HTTPServerError):
    """501 Not Implemented: the server answers it to a transfer coding
    other than chunked, and to a chunked body sent with a non-WebSocket ``Upgrade``."""

    status_code = 501


class HTTPBadGateway(HTTPServerError):
    """502 Bad Gateway: an upstream server sent an invalid answer."""

    status_code = 502


class HTTPServiceUnavailable(HTTPServerError):
    """503 Service Unavailable: overloaded or down for maintenance; a
    ``Retry-After`` header says when to come back."""

    status_code = 503


class HTTPGatewayTimeout(HTTPServerError):
    """504 Gateway Timeout: an upstream server did not answer in time."""

    status_code = 504
