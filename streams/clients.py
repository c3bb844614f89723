"""Who is calling: the client's address (trusting forwarded-for headers only from the
configured proxies) and whether an allowlist admits it.

The one place the project reads a client address: the API's allowlist and throttles,
the compatibility APIs and the console's sign-in throttle all ask here, so behind a
proxy none of them mistakes the proxy for the client."""

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=256)
def _networks(values: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket (::ffff:203.0.113.5) is that IPv4 client.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def _in(ip, networks: tuple[Network, ...]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def client_address(request: HttpRequest) -> str:
    """The client's address. ``X-Forwarded-For`` is read right to left, skipping our
    own proxies, only when the socket peer is one of ``TRUSTED_PROXIES``; a header sent
    by anyone else is ignored, so it cannot be spoofed past the allowlist."""
    peer = _parse_ip(request.META.get("REMOTE_ADDR", ""))
    if peer is None:
        return ""
    proxies = _networks(tuple(settings.TRUSTED_PROXIES))
    if not proxies or not _in(peer, proxies):
        return str(peer)
    hops = [h for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    client = peer
    for hop in reversed(hops):
        ip = _parse_ip(hop)
        if ip is None:
            break  # garbage in the chain: trust nothing before it
        client = ip
        if not _in(ip, proxies):
            break
    return str(client)


def ip_allowed(ip: str, allowed: list[str]) -> bool:
    """Whether ``ip`` is one of the addresses or inside one of the CIDR ranges."""
    parsed = _parse_ip(ip) if ip else None
    return parsed is not None and _in(parsed, _networks(tuple(allowed)))
