"""Server-side sessions, with the names aiohttp_session users know.

    from tidewire.server.sessions import EncryptedCookieStorage, get_session, setup

    setup(app, EncryptedCookieStorage(key))  # 32 bytes, or their url-safe base64

    async def handler(request):
        session = await get_session(request)
        session["key"] = "value"
        return Response()

A session is a dict of JSON values tied to one browser by a cookie. Where its data
lives is the storage's business: in the cookie itself, encrypted and authenticated
(``EncryptedCookieStorage``, needs ``cryptography``: ``pip install 'tidewire[sessions]'``),
or in Redis under a random id the cookie carries (``RedisStorage``, needs ``redis``);
``SimpleCookieStorage`` keeps it in the clear, for tests only.

It is loaded on the first ``get_session`` of a request and saved once, when the
response's head goes out, only if it changed: so a session changed before
``WebSocketResponse.prepare()`` leaves with the 101, and one changed after the head went
out is saved only where the cookie need not change (Redis, an existing session), else
logged as lost. A cookie that is tampered with, expired, made with another key or
garbage gives a new empty session, never an error. The cookie is HttpOnly,
SameSite=Lax, Path=/ and, on https, Secure, unless the storage is told otherwise.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from tidewire.server.app import AppKey, Application
from tidewire.server.middleware import Handler
from tidewire.server.request import Request
from tidewire.server.response import StreamResponse

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "AbstractStorage",
    "EncryptedCookieStorage",
    "RedisStorage",
    "Session",
    "SimpleCookieStorage",
    "get_session",
    "new_session",
    "setup",
]

log = logging.getLogger("tidewire.server.sessions")

_SESSION = "tidewire.session"  # the request's session, once loaded
_SEEN_BY = "tidewire.session.request"  # the request (or clone) the handler loaded it with
_STORAGE = AppKey("tidewire.session_storage", object)


class Session(MutableMapping[str, Any]):
    """One browser's session: a mutable mapping of JSON values.

    ``new`` says it was made for this request (no valid cookie came, or
    ``new_session``); ``created`` is when it began (a POSIX timestamp). Assigning or
    deleting a key marks it changed; call ``changed()`` after mutating a value in
    place (``session["cart"].append(x)``). ``invalidate()`` empties it and has the
    storage forget it and the browser drop its cookie. ``identity`` is the storage's
    key for it (``RedisStorage``'s id; None in a cookie storage).
    """

    __slots__ = ("_changed", "_data", "created", "identity", "invalidated", "max_age", "new")

    def __init__(
        self,
        identity: str | None,
        *,
        data: dict[str, Any] | None = None,
        new: bool,
        max_age: int | None = None,
        created: float | None = None,
    ) -> None:
        self.identity = identity
        self._data: dict[str, Any] = dict(data or {})
        self.new = new
        self.max_age = max_age
        self.created = created if created is not None else time.time()
        self._changed = False
        self.invalidated = False

    @property
    def changed_since_saved(self) -> bool:
        """Whether it must be saved: changed (or invalidated) since it was loaded."""
        return self._changed

    def changed(self) -> None:
        """Mark it changed, for a value mutated in place."""
        self._changed = True

    def invalidate(self) -> None:
        """Empty it; the storage forgets it and the browser's cookie is removed."""
        self._data.clear()
        self.invalidated = True
        self._changed = True

    def _saved(self) -> None:
        self._changed = False

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value
        self._changed = True

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self._changed = True

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        state = "new" if self.new else "loaded"
        return f"<Session [{state}, {'changed' if self._changed else 'unchanged'}] {self._data!r}>"


class AbstractStorage:
    """Where sessions live; subclass it for a store of your own by writing
    ``load_session`` and ``save_session`` (cookie handling is here, shared).

    ``cookie_name`` names the cookie; ``max_age`` (seconds, None: until the browser
    closes) bounds both the cookie and the session; ``domain``, ``path``, ``secure``
    (None: on https only), ``httponly`` and ``samesite`` are the cookie's attributes;
    ``encoder``/``decoder`` turn the session's dict into text and back (``json``).
    """

    def __init__(
        self,
        *,
        cookie_name: str = "TIDEWIRE_SESSION",
        max_age: int | None = None,
        domain: str | None = None,
        path: str = "/",
        secure: bool | None = None,
        httponly: bool = True,
        samesite: str | None = "Lax",
        encoder: Callable[[Any], str] = json.dumps,
        decoder: Callable[[str], Any] = json.loads,
    ) -> None:
        self.cookie_name = cookie_name
        self.max_age = max_age
        self.domain = domain
        self.path = path
        self.secure = secure
        self.httponly = httponly
        self.samesite = samesite
        self.encoder = encoder
        self.decoder = decoder

    def new_session(self) -> Session:
        """An empty session, not yet saved."""
        return Session(None, new=True, max_age=self.max_age)

    def load_cookie(self, request: Request) -> str | None:
        """The session cookie's value, if the request carries one."""
        return request.cookies.get(self.cookie_name)

    def save_cookie(self, request: Request, response: StreamResponse, value: str) -> None:
        """Set the session cookie on ``response`` (an empty ``value`` removes it)."""
        if not value:
            response.del_cookie(self.cookie_name, domain=self.domain, path=self.path)
            return
        response.set_cookie(
            self.cookie_name,
            value,
            max_age=self.max_age,
            domain=self.domain,
            path=self.path,
            secure=request.secure if self.secure is None else self.secure,
            httponly=self.httponly,
            samesite=self.samesite,
        )

    def _session_from(self, text: str | None, identity: str | None = None) -> Session:
        """The session ``text`` (from ``Session._dump``) holds, or a new one when it is
        missing, malformed or past ``max_age``."""
        if text is None:
            return self.new_session()
        try:
            stored = self.decoder(text)
            created = float(stored["created"])
            data = stored["session"]
            if not isinstance(data, dict):
                raise TypeError("not a mapping")
        except (ValueError, TypeError, KeyError) as exc:
            log.info("a session that does not decode was replaced by a new one: %s", exc)
            return self.new_session()
        if self.max_age is not None and created + self.max_age < time.time():
            return self.new_session()
        return Session(identity, data=data, new=False, max_age=self.max_age, created=created)

    def _dump(self, session: Session) -> str:
        return str(self.encoder({"created": session.created, "session": dict(session)}))

    async def load_session(self, request: Request) -> Session:
        """The request's session (a new one when it has none, or none valid)."""
        raise NotImplementedError

    async def save_session(
        self, request: Request, response: StreamResponse | None, session: Session
    ) -> None:
        """Store ``session``; set its cookie on ``response`` (None: the head went out
        already, store what can be stored without a cookie)."""
        raise NotImplementedError


class SimpleCookieStorage(AbstractStorage):
    """The session in the cookie, as readable and forgeable JSON: FOR TESTS ONLY.
    Anyone can read and change it; use ``EncryptedCookieStorage`` in production."""

    async def load_session(self, request: Request) -> Session:
        """The session the cookie holds, or a new one."""
        return self._session_from(self.load_cookie(request))

    async def save_session(
        self, request: Request, response: StreamResponse | None, session: Session
    ) -> None:
        """Put the session in the cookie (removed when invalidated)."""
        if response is None:
            raise _too_late()
        self.save_cookie(request, response, "" if session.invalidated else self._dump(session))


class EncryptedCookieStorage(AbstractStorage):
    """The session in the cookie, encrypted and authenticated (Fernet: AES-128-CBC and
    HMAC-SHA256), so the browser can neither read nor change it, and no server-side
    store is needed: every worker with the key reads it.

    ``secret_key`` is 32 bytes, or their url-safe base64 (as aiohttp_session takes,
    ``base64.urlsafe_b64encode(os.urandom(32))``), or a list of them: the first
    encrypts, all decrypt, so a key is rotated by putting the new one first and
    dropping the old one after ``max_age``. A cookie holds at most about 4 KiB: keep
    sessions small. Raises ``ValueError`` for a key of another size, ``ImportError``
    without the ``cryptography`` package. Other arguments are ``AbstractStorage``'s.
    """

    def __init__(self, secret_key: bytes | str | Sequence[bytes | str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            from cryptography.fernet import Fernet, MultiFernet  # noqa: PLC0415
        except ImportError as exc:
            raise ImportError(
                "EncryptedCookieStorage needs the cryptography package:"
                " pip install 'tidewire[sessions]'"
            ) from exc
        keys = [secret_key] if isinstance(secret_key, (bytes, str)) else list(secret_key)
        if not keys:
            raise ValueError("give at least one key")
        self._fernet = MultiFernet([Fernet(_fernet_key(key)) for key in keys])

    async def load_session(self, request: Request) -> Session:
        """The session the cookie holds, or a new one when it is missing, tampered
        with, encrypted with an unknown key, or older than ``max_age``."""
        from cryptography.fernet import InvalidToken  # noqa: PLC0415

        cookie = self.load_cookie(request)
        if cookie is None:
            return self.new_session()
        try:
            text = self._fernet.decrypt(cookie.encode("ascii"), ttl=self.max_age).decode()
        except (InvalidToken, UnicodeError):
            return self.new_session()
        return self._session_from(text)

    async def save_session(
        self, request: Request, response: StreamResponse | None, session: Session
    ) -> None:
        """Encrypt the session into the cookie (removed when invalidated)."""
        if response is None:
            raise _too_late()
        if session.invalidated:
            self.save_cookie(request, response, "")
            return
        token = self._fernet.encrypt(self._dump(session).encode()).decode("ascii")
        self.save_cookie(request, response, token)


def _fernet_key(key: bytes | str) -> bytes:
    """The url-safe base64 form Fernet takes, from 32 raw bytes or that form itself."""
    raw = key.encode() if isinstance(key, str) else key
    if len(raw) == 32:
        return base64.urlsafe_b64encode(raw)
    try:
        decoded = base64.urlsafe_b64decode(raw)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) != 32:
        raise ValueError("a session key is 32 bytes, or their url-safe base64 (44 characters)")
    return raw


class RedisStorage(AbstractStorage):
    """The session's data in Redis under a random 128-bit id, which the cookie
    carries: nothing but the id reaches the browser, sessions can be any size, and
    every worker on the same Redis shares them.

    ``redis`` is a URL (``redis://127.0.0.1:6379/0``) or a ``redis.asyncio.Redis``
    client; keys are ``key_prefix`` + id, kept ``max_age`` seconds (``max_age`` None:
    ``default_ttl``, 14 days, in Redis and a cookie that lives until the browser
    closes). ``new_session`` gives a new id, so a session cannot be fixed by someone
    who planted a cookie; ``invalidate`` deletes the key. Errors reaching Redis
    propagate (the request fails with 500) rather than handing out an empty session.
    """

    def __init__(
        self,
        redis: str | Redis,
        *,
        key_prefix: str = "tidewire:session:",
        default_ttl: int = 14 * 24 * 3600,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        try:
            import redis.asyncio as aioredis  # noqa: PLC0415
        except ImportError as exc:
            raise ImportError(
                "RedisStorage needs the redis package: pip install 'tidewire[redis]'"
            ) from exc
        self._redis: Redis = aioredis.Redis.from_url(redis) if isinstance(redis, str) else redis
        self.key_prefix = key_prefix
        self.default_ttl = default_ttl

    def new_session(self) -> Session:
        """An empty session with a fresh random id."""
        return Session(secrets.token_hex(16), new=True, max_age=self.max_age)

    async def load_session(self, request: Request) -> Session:
        """The session of the cookie's id, or a new one (new id) when the cookie is
        missing, not an id of ours, or its data expired."""
        identity = self.load_cookie(request)
        if identity is None or len(identity) != 32 or not _is_hex(identity):
            return self.new_session()
        text = await self._redis.get(self.key_prefix + identity)
        if text is None:
            return self.new_session()
        session = self._session_from(text.decode() if isinstance(text, bytes) else text, identity)
        return session if not session.new else self.new_session()

    async def save_session(
        self, request: Request, response: StreamResponse | None, session: Session
    ) -> None:
        """Store the data with its TTL and set the id cookie (delete both when
        invalidated). After the head went out, an existing session's data is still
        stored; a new one's cannot be, since its cookie never reached the browser."""
        assert session.identity is not None
        key = self.key_prefix + session.identity
        if session.invalidated:
            await self._redis.delete(key)
            if response is not None:
                self.save_cookie(request, response, "")
            return
        if response is None and session.new:
            raise _too_late()
        ttl = self.max_age if self.max_age is not None else self.default_ttl
        await self._redis.set(key, self._dump(session), ex=ttl)
        if response is not None:
            self.save_cookie(request, response, session.identity)


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True


class _TooLate(RuntimeError):
    pass


def _too_late() -> _TooLate:
    return _TooLate("the session changed after the response's head (and cookies) went out")


def setup(app: Application, storage: AbstractStorage) -> None:
    """Keep sessions in ``storage`` for ``app`` (and its sub-applications): loaded by
    ``get_session``, saved as each response's head goes out. Call it before the
    application starts (``RuntimeError`` after)."""
    if app.frozen:
        raise RuntimeError("sessions.setup() must run before the application starts")
    app[_STORAGE] = storage

    async def save_late(request: Request, handler: Handler) -> StreamResponse:
        response = await handler(request)
        session: Session | None = request.get(_SESSION)
        if session is not None and session.changed_since_saved and response.prepared:
            try:  # changed after the head went out (a WebSocket handler, a stream)
                await storage.save_session(request.get(_SEEN_BY, request), None, session)
                session._saved()
            except _TooLate as exc:
                log.warning("%s %s: %s, not saved", request.method, request.path, exc)
        return response

    async def save(request: Request, response: StreamResponse) -> None:
        session: Session | None = request.get(_SESSION)
        if session is not None and session.changed_since_saved:
            # The handler's view of the request decides Secure (a proxy's https).
            await storage.save_session(request.get(_SEEN_BY, request), response, session)
            session._saved()

    app.middlewares = (save_late, *app.middlewares)
    app.on_response_prepare.append(save)


def _storage(request: Request) -> AbstractStorage:
    storage = request.config_dict.get(_STORAGE)
    if not isinstance(storage, AbstractStorage):
        raise RuntimeError("call tidewire.server.sessions.setup(app, storage) first")
    return storage


async def get_session(request: Request) -> Session:
    """The request's session, loaded on the first call (a new one when the browser
    has none). ``RuntimeError`` when ``setup`` was not called."""
    session: Session | None = request.get(_SESSION)
    if session is None:
        session = await _storage(request).load_session(request)
        request[_SESSION], request[_SEEN_BY] = session, request
    return session


async def new_session(request: Request) -> Session:
    """Replace the request's session with a new empty one (a new id with Redis), as
    after a login, so an id known before it is worth nothing after. The old one is
    forgotten by the storage."""
    storage = _storage(request)
    old: Session | None = request.get(_SESSION)
    if old is None:
        old = await storage.load_session(request)
    if not old.new and old.identity is not None:
        old.invalidate()
        await storage.save_session(request, None, old)
    session = storage.new_session()
    session.changed()  # a new session is sent even if nothing is put in it
    request[_SESSION], request[_SEEN_BY] = session, request
    return session
