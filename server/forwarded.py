"""Behind a reverse proxy: the client's address, scheme and host from the headers your
own proxies add, and from nobody else.

    from tidewire.server.forwarded import trusted_proxies

    app = Application(middlewares=[trusted_proxies(["10.0.0.0/8", "127.0.0.1"])])

The middleware hands handlers ``request.clone(remote=..., scheme=..., host=...)``. It
reads ``Forwarded`` (RFC 7239) and, from a proxy that sends none, ``X-Forwarded-For``,
``X-Forwarded-Proto`` and ``X-Forwarded-Host``. Each proxy appends the address it got
the request from, so the chain is read from the end: starting at the connection's peer,
each hop is believed only while the address before it is one of ``proxies``; the first
address that is not is the client, and the scheme and host are those the outermost
trusted proxy saw. A request whose peer is not a trusted proxy keeps what its
connection says, whatever headers it carries (anyone can send them). A trusted proxy
sending a scheme other than http/https, or a host that is not one, gets 400: a
misconfigured proxy is told, not believed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping

from tidewire.server.exceptions import HTTPBadRequest
from tidewire.server.middleware import Handler, Middleware
from tidewire.server.request import Request
from tidewire.server.response import StreamResponse

__all__ = ["ip_address_of", "trusted_proxies"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_HOST = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,;=-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_PORTED_V4 = re.compile(r"([0-9.]+):[0-9]+")


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def ip_address_of(text: str | None) -> IPAddress | None:
    """``text`` as an IP address, or None when it is not one. A zone (``fe80::1%eth0``)
    is dropped, and an IPv4-mapped IPv6 address (``::ffff:10.0.0.1``, a dual-stack
    socket's IPv4 peer) is the IPv4 address it maps, so ``10.0.0.0/8`` matches it."""
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _address(node: str | None) -> IPAddress | None:
    """The IP address of a ``for`` node (``"[2001:db8::1]:80"``, ``"192.0.2.1"``), or
    None for ``unknown``, an obfuscated name or garbage."""
    if not node:
        return None
    node = node.strip()
    if node.startswith("["):
        node = node[1 : node.find("]")] if "]" in node else ""
    elif (ported := _PORTED_V4.fullmatch(node)) is not None:
        node = ported.group(1)
    return ip_address_of(node)


def trusted_proxies(proxies: Iterable[str]) -> Middleware:
    """A middleware that believes the forwarding headers of ``proxies`` only: IP
    addresses or networks (``"10.0.0.0/8"``, ``"::1"``). Raises ``ValueError`` for an
    entry that is neither. See the module docstring for how the chain is read."""
    networks = tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)

    def trusted(address: IPAddress | None) -> bool:
        return address is not None and any(address in network for network in networks)

    async def forwarded_middleware(request: Request, handler: Handler) -> StreamResponse:
        if not trusted(_address(request.remote)):
            return await handler(request)
        hops: list[Mapping[str, str]] = list(request.forwarded)
        if not hops:
            hops = _x_forwarded(request)
        if not hops:
            return await handler(request)
        index = len(hops) - 1
        while index > 0 and trusted(_address(hops[index].get("for"))):
            index -= 1  # that hop is one of ours too: look at what it was told
        hop = hops[index]
        scheme, host = hop.get("proto"), hop.get("host")
        if scheme is not None:
            scheme = scheme.lower()
            if scheme not in ("http", "https"):
                raise HTTPBadRequest(text=f"a trusted proxy sent the scheme {scheme!r}")
        if host is not None and not _HOST.fullmatch(host):
            raise HTTPBadRequest(text=f"a trusted proxy sent the host {host!r}")
        client = hop.get("for")
        found = _address(client)
        remote = str(found) if found is not None else (client.strip() if client else None)
        return await handler(request.clone(scheme=scheme, host=host, remote=remote))

    return forwarded_middleware


def _x_forwarded(request: Request) -> list[Mapping[str, str]]:
    """The ``X-Forwarded-*`` headers as ``Forwarded`` elements, nearest proxy last.

    ``X-Forwarded-For`` lists one address per hop; ``-Proto`` and ``-Host`` go with the
    hop of the same position when they list as many values, else their last value
    (a proxy that sets rather than appends them) goes with every hop."""
    headers = request.headers

    def values(name: str) -> list[str]:
        return [v.strip() for line in headers.getall(name, ()) for v in line.split(",")]

    addresses = values("X-Forwarded-For")
    if not addresses:
        return []
    hops: list[dict[str, str]] = [{"for": address} for address in addresses]
    for name, key in (("X-Forwarded-Proto", "proto"), ("X-Forwarded-Host", "host")):
        given = values(name)
        for index, hop in enumerate(hops):
            if len(given) == len(hops):
                hop[key] = given[index]
            elif given:
                hop[key] = given[-1]
    return list(hops)
