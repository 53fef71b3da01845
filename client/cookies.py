"""``CookieJar``: stores Set-Cookie answers and picks the cookies a request may carry.

The rules are RFC 6265's: host-only versus domain cookies, default and matching paths,
Max-Age over Expires, Secure only over TLS. Parsing is the stdlib's ``http.cookies``.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Iterator, Mapping
from email.utils import mktime_tz, parsedate_tz
from http.cookies import BaseCookie, CookieError, Morsel, SimpleCookie

from yarl import URL

CookieKey = tuple[str, str, str]
"""(domain, path, name): a later cookie with the same key replaces the earlier one."""

SECURE_SCHEMES = frozenset(("https", "wss"))
NO_URL = URL()
_MAX_AGE = 400 * 24 * 3600  # the longest a cookie is kept (RFC 6265bis 5.5)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _default_path(url: URL) -> str:
    path = url.path
    if not path.startswith("/") or path.count("/") == 1:
        return "/"
    return path[: path.rfind("/")]


def _path_matches(request_path: str, cookie_path: str) -> bool:
    if not request_path.startswith(cookie_path):
        return False
    return (
        len(request_path) == len(cookie_path)
        or cookie_path.endswith("/")
        or request_path[len(cookie_path)] == "/"
    )


def _domain_matches(host: str, domain: str) -> bool:
    return host == domain or (host.endswith("." + domain) and not _is_ip(host))


class CookieJar:
    """Cookies of one session. ``unsafe=True`` also accepts cookies from IP-address hosts."""

    def __init__(self, *, unsafe: bool = False) -> None:
        self._unsafe = unsafe
        self._cookies: dict[CookieKey, Morsel[str]] = {}
        self._host_only: set[CookieKey] = set()
        self._expires: dict[CookieKey, float] = {}

    def __len__(self) -> int:
        self._drop_expired()
        return len(self._cookies)

    def __iter__(self) -> Iterator[Morsel[str]]:
        self._drop_expired()
        return iter(list(self._cookies.values()))

    def clear(self) -> None:
        """Forget every cookie."""
        self._cookies.clear()
        self._host_only.clear()
        self._expires.clear()

    def clear_domain(self, domain: str) -> None:
        """Forget the cookies of ``domain`` and its subdomains."""
        for key in [key for key in self._cookies if _domain_matches(key[0], domain)]:
            self._forget(key)

    def _forget(self, key: CookieKey) -> None:
        self._cookies.pop(key, None)
        self._host_only.discard(key)
        self._expires.pop(key, None)

    def _drop_expired(self) -> None:
        now = time.time()
        for key in [key for key, when in self._expires.items() if when <= now]:
            self._forget(key)

    def update_cookies(
        self,
        cookies: BaseCookie[str] | Mapping[str, str] | Iterable[tuple[str, str]],
        response_url: URL = NO_URL,
    ) -> None:
        """Store cookies set by ``response_url``; without a host they go to every host."""
        host = (response_url.raw_host or "").lower()
        if host and not self._unsafe and _is_ip(host):
            return
        if not isinstance(cookies, BaseCookie):
            pairs = cookies.items() if isinstance(cookies, Mapping) else cookies
            loaded: BaseCookie[str] = SimpleCookie()
            for name, value in pairs:
                loaded[name] = value
            cookies = loaded
        for name, morsel in cookies.items():
            self._store(host, response_url, name, morsel)

    def _store(self, host: str, url: URL, name: str, morsel: Morsel[str]) -> None:
        domain = morsel["domain"].lstrip(".").lower()
        host_only = not domain
        if host_only:
            domain = host
        elif host and not _domain_matches(host, domain):
            return  # a site may only set cookies for itself and its parent domains
        path = morsel["path"]
        if not path.startswith("/"):
            path = _default_path(url)
        key = (domain, path, name)
        expires = self._expiry(morsel)
        self._forget(key)
        if expires is not None and expires <= time.time():
            return  # an expiry in the past is how a server deletes a cookie
        stored: Morsel[str] = Morsel()
        stored.set(name, morsel.value, morsel.coded_value)
        stored.update({k: v for k, v in morsel.items() if v})
        stored["domain"], stored["path"] = domain, path
        self._cookies[key] = stored
        if host_only:
            self._host_only.add(key)
        if expires is not None:
            self._expires[key] = expires

    @staticmethod
    def _expiry(morsel: Morsel[str]) -> float | None:
        max_age = morsel["max-age"]
        if max_age:
            try:
                seconds = int(max_age)
            except ValueError:
                pass
            else:  # zero or less expires it now (RFC 6265 5.2.2)
                return 0.0 if seconds <= 0 else time.time() + min(seconds, _MAX_AGE)
        parsed = parsedate_tz(morsel["expires"].replace("-", " ")) if morsel["expires"] else None
        if parsed is None:
            return None
        try:
            return float(mktime_tz(parsed))
        except (ValueError, OverflowError):  # a date past what the platform keeps
            return None

    def filter_cookies(self, request_url: URL) -> SimpleCookie:
        """The cookies a request to ``request_url`` carries, longest path first."""
        self._drop_expired()
        host = (request_url.raw_host or "").lower()
        secure = request_url.scheme in SECURE_SCHEMES
        path = request_url.path or "/"
        matched = SimpleCookie()
        keys = sorted(self._cookies, key=lambda key: len(key[1]), reverse=True)
        for key in keys:
            domain, cookie_path, name = key
            morsel = self._cookies[key]
            if domain and (
                host != domain if key in self._host_only else not _domain_matches(host, domain)
            ):
                continue
            if not _path_matches(path, cookie_path) or (morsel["secure"] and not secure):
                continue
            if name not in matched:
                matched[name] = morsel
        return matched

    def cookie_header(self, request_url: URL) -> str:
        """The value of the Cookie header for ``request_url`` (empty if none)."""
        if not self._cookies:
            return ""
        return "; ".join(
            f"{name}={m.coded_value}" for name, m in self.filter_cookies(request_url).items()
        )


def parse_set_cookies(headers: Iterable[str]) -> SimpleCookie:
    """Every Set-Cookie header in one ``SimpleCookie``; malformed ones are skipped."""
    cookies = SimpleCookie()
    for header in headers:
        try:
            cookies.load(header)
        except CookieError:
            continue
    return cookies
