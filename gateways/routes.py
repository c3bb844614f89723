"""Each account's route (its enabled gateways, primary first) and the default gateway,
cached in every worker process: every message of an account reads the same rows, and
reading them was almost half of a delivery's CPU.

Invalidation: any save or delete of a gateway or a route bumps a version in the shared
cache; a process reads that version (one cache round trip) before it trusts its copy,
so an edit is seen by the next message everywhere. Writes must go through
``save()``/``delete()`` (all of the product's do). A cache that is down makes every
read go to the database.
"""

from __future__ import annotations

import logging
import threading
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save

from streams import ratelimit

from .models import Gateway, Route

log = logging.getLogger(__name__)

VERSION_KEY = "gateway-routes-version"

_lock = threading.Lock()
_cached: dict[int | None, list[Gateway]] = {}
_cached_version: object = None


def hops(account_id: int, channel: str) -> list[Gateway]:
    """The account's enabled gateways that carry ``channel``, primary first; the default
    gateway when none does."""
    route = [gateway for gateway in _route(account_id) if gateway.carries(channel)]
    return route or _route(None)


def _route(account_id: int | None) -> list[Gateway]:
    global _cached_version
    version = _version()
    with _lock:
        if version is None or version != _cached_version:
            _cached.clear()
            _cached_version = version
        found = _cached.get(account_id)
    if found is not None and version is not None:
        return found
    found = [default_gateway()] if account_id is None else _read_route(account_id)
    with _lock:
        if _cached_version == version:
            _cached[account_id] = found
    return found


def _read_route(account_id: int) -> list[Gateway]:
    return [
        route.gateway
        for route in Route.objects.filter(account_id=account_id, gateway__enabled=True)
        .select_related("gateway")
        .order_by("position", "id")
    ]


def default_gateway() -> Gateway:
    """The gateway of accounts without a route (``OTP_DEFAULT_GATEWAY``: a gateway name,
    or a kind — console or noop — created on first use)."""
    name = settings.OTP_DEFAULT_GATEWAY
    gateway = Gateway.objects.filter(name=name).first()
    if gateway is None:
        kind = name if name in (Gateway.Kind.CONSOLE, Gateway.Kind.NOOP) else Gateway.Kind.CONSOLE
        gateway, _ = Gateway.objects.get_or_create(
            name=name, defaults={"kind": kind, "supports_voice": True}
        )
    return gateway


def _version() -> object:
    """The shared version of every route, with the default gateway's name (a setting a
    test may change); ``None`` when the cache is down (then nothing is cached)."""
    found = ratelimit.hit_and_read([], read=VERSION_KEY)
    if found.cache_down:
        return None
    version = found.value
    if version is None:  # evicted or never set: a version no process has seen
        cache.add(VERSION_KEY, uuid.uuid4().hex, None)
        version = cache.get(VERSION_KEY)
    return (version, settings.OTP_DEFAULT_GATEWAY)


def forget_all(**kwargs) -> None:
    """Every process drops its routes at its next read."""
    try:
        cache.set(VERSION_KEY, uuid.uuid4().hex, None)  # never a value seen before
    except Exception as exc:
        if not ratelimit.cache_is_down(exc):
            raise
        log.warning("routes not invalidated: cache down (%s)", exc)
    with _lock:
        _cached.clear()


def connect() -> None:
    for model in (Gateway, Route):
        for signal in (post_save, post_delete):
            signal.connect(
                forget_all, sender=model, dispatch_uid=f"routes-{model.__name__}-{signal}"
            )
