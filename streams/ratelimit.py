"""The one fixed-window rate counter: a count per (scope, identity, window) in the
shared cache, so every web node and worker sees the same numbers.

Used by the API's request throttles, the console's sign-in throttle and the
per-gateway send rate. With Redis a hit is one round trip (create the window's key if
absent, with its expiry, and increment it, pipelined); other caches (the embedded
default's local memory) take two. A cache that is down fails open with a log line:
the limits that cost money (sends per recipient, wrong codes) live in the database and
still hold, and a cache outage must not stop every user from signing in.
"""

from __future__ import annotations

import logging
import math
import pickle
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import redis
import redis.exceptions
from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisSerializer
from django.core.signals import request_started

log = logging.getLogger(__name__)

REDIS_BACKEND = "django.core.cache.backends.redis.RedisCache"


@dataclass(frozen=True)
class Decision:
    """``allowed`` once ``count`` (this hit included) is within the limit; otherwise
    ``retry_after`` seconds until the window ends."""

    allowed: bool
    count: int
    retry_after: float = 0.0

    @property
    def retry_after_seconds(self) -> int:
        """``retry_after`` as a ``Retry-After`` header wants it: whole seconds, at least 1."""
        return max(1, math.ceil(self.retry_after))


def cache_is_down(exc: BaseException) -> bool:
    """Whether ``exc`` says the shared cache cannot be reached (refused or hung). Also
    remembers it: for the rest of the request (or ``CACHE_DOWN_RETRY_SECONDS`` in a
    worker) the cache is then skipped at once (:func:`known_down`), so a hung cache costs
    a request one timeout, not one per cache operation; the next request tries again."""
    down = isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError)
    if down:
        global _down_until
        _down_until = time.monotonic() + getattr(settings, "CACHE_DOWN_RETRY_SECONDS", 5.0)
    return down


_down_until = 0.0


def _forget_down(**kwargs) -> None:
    global _down_until
    _down_until = 0.0


request_started.connect(_forget_down, dispatch_uid="ratelimit-forget-down")


def known_down() -> bool:
    """The cache failed within the last ``CACHE_DOWN_RETRY_SECONDS``: fail open now."""
    return time.monotonic() < _down_until


def parse_rate(rate: str) -> tuple[int, int]:
    """``"100/s"``, ``"6000/m"``, ``"10/10s"`` -> (limit, period in seconds)."""
    count, _, period = rate.partition("/")
    unit = period.lstrip("0123456789") or "s"
    multiple = int(period[: len(period) - len(unit)] or 1)
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit[0]]
    return int(count), multiple * seconds


def hit(
    scope: str,
    identity: str,
    *,
    limit: int,
    period: int,
    now: float | None = None,
    keep_windows: int = 1,
) -> Decision:
    """Count one event of ``identity`` under ``scope`` in the current ``period``-second
    window and say whether it is within ``limit``. ``keep_windows``: how many windows
    the count stays readable (for :func:`recent_total`); ``now``: the event's time."""
    now = time.time() if now is None else now
    window = int(now // period)
    if known_down():
        return Decision(allowed=True, count=0)
    try:
        count = _increment(_key(scope, identity, window), period * keep_windows)
    except Exception as exc:
        if not cache_is_down(exc):
            raise
        log.warning("rate limit %s skipped: cache down (%s)", scope, exc)
        return Decision(allowed=True, count=0)
    if count <= limit:
        return Decision(allowed=True, count=count)
    return Decision(allowed=False, count=count, retry_after=(window + 1) * period - now)


@dataclass(frozen=True)
class Counter:
    """One fixed-window count to hit: ``limit`` events per ``period`` seconds."""

    scope: str
    identity: str
    limit: float
    period: int
    keep_windows: int = 1  # as :func:`hit`'s


@dataclass(frozen=True)
class Lookup:
    """What :func:`hit_and_read` found: one decision per counter, in order, and the
    cached value (``None``: absent, or the cache is down — then ``cache_down``)."""

    decisions: list[Decision]
    value: Any
    cache_down: bool = False


def hit_and_read(
    counters: Sequence[Counter], *, read: str | None = None, now: float | None = None
) -> Lookup:
    """Hit every counter and read the cache key ``read`` (as ``cache.get`` would), in
    one round trip with Redis: the API's request throttles and its stream lookup share
    it. A cache that is down allows every counter and reads nothing."""
    if not counters and read is None:
        return Lookup([], None)
    if known_down():
        return Lookup([Decision(allowed=True, count=0) for _ in counters], None, cache_down=True)
    now = time.time() if now is None else now
    windows = [int(now // c.period) for c in counters]
    keys = [_key(c.scope, c.identity, w) for c, w in zip(counters, windows, strict=True)]
    try:
        client = _redis_client()
        if client is None:
            counts = [
                _increment(k, c.period * c.keep_windows)
                for k, c in zip(keys, counters, strict=True)
            ]
            value = None if read is None else cache.get(read)
        else:
            pipe = client.pipeline(transaction=False)
            for key, counter in zip(keys, counters, strict=True):
                full_key = cache.make_and_validate_key(key)
                pipe.set(full_key, 0, nx=True, ex=counter.period * counter.keep_windows + 1)
                pipe.incr(full_key)
            if read is not None:
                pipe.get(cache.make_and_validate_key(read))
            replies = pipe.execute()
            counts = [int(n) for n in replies[1 : 2 * len(counters) : 2]]
            raw = replies[-1] if read is not None else None
            value = None if raw is None else _SERIALIZER.loads(raw)
    except Exception as exc:
        if not cache_is_down(exc):
            raise
        log.warning("rate limits skipped, %s not read: cache down (%s)", read, exc)
        return Lookup([Decision(allowed=True, count=0) for _ in counters], None, cache_down=True)
    decisions = [
        Decision(allowed=True, count=n)
        if n <= c.limit
        else Decision(allowed=False, count=n, retry_after=(w + 1) * c.period - now)
        for n, c, w in zip(counts, counters, windows, strict=True)
    ]
    return Lookup(decisions, value)


def remember(key: str, value: Any, timeout: int) -> None:
    """``cache.set`` on the process's one Redis client (Django's Redis cache builds a
    client per operation). A cache that is down is logged and skipped."""
    if known_down():
        return
    try:
        client = _redis_client()
        if client is None:
            cache.set(key, value, timeout)
        else:
            client.set(cache.make_and_validate_key(key), _SERIALIZER.dumps(value), ex=timeout)
    except Exception as exc:
        if not cache_is_down(exc):
            raise
        log.warning("%s not cached: cache down (%s)", key, exc)


# The values Django's Redis cache writes (pickles, ints as such): read and written here
# on our own client, they stay readable and deletable through ``cache``.
_SERIALIZER = RedisSerializer(protocol=pickle.HIGHEST_PROTOCOL)


def count(scope: str, identity: str, *, period: int) -> int:
    """Events counted so far in the current window, without counting one (0 when the
    cache is down: fail open)."""
    key = _key(scope, identity, int(time.time() // period))
    if known_down():
        return 0
    try:
        return int(cache.get(key) or 0)
    except Exception as exc:
        if not cache_is_down(exc):
            raise
        log.warning("rate limit %s not read: cache down (%s)", scope, exc)
        return 0


def recent_totals(
    series: list[tuple[str, str]],
    *,
    period: int,
    windows: int,
    now: float | None = None,
    hit_first: tuple[str, str] | None = None,
) -> list[int]:
    """For each (scope, identity): its events in the last ``windows`` windows, the
    current one included (a sliding total at the windows' grain), in one cache read
    (0 when the cache is down: fail open). Counted with ``keep_windows=windows``.
    ``hit_first``: a (scope, identity) to count one event of before reading, in the
    same round trip with Redis (the read sees it)."""
    now = time.time() if now is None else now
    current = int(now // period)
    keys = {
        (scope, identity): [_key(scope, identity, current - back) for back in range(windows)]
        for scope, identity in series
    }
    if known_down():
        return [0] * len(series)
    wanted = [key for group in keys.values() for key in group]
    hit_key = None if hit_first is None else _key(*hit_first, current)
    try:
        client = _redis_client()
        if client is None:
            if hit_key is not None:
                _increment(hit_key, period * windows)
            found = cache.get_many(wanted)
        else:  # the process's one client (Django's cache builds one per operation)
            pipe = client.pipeline(transaction=False)
            if hit_key is not None:
                full_key = cache.make_and_validate_key(hit_key)
                pipe.set(full_key, 0, nx=True, ex=period * windows + 1)
                pipe.incr(full_key)
            pipe.mget([cache.make_and_validate_key(key) for key in wanted])
            raw = pipe.execute()[-1]
            found = {k: _SERIALIZER.loads(v) for k, v in zip(wanted, raw, strict=True) if v}
    except Exception as exc:
        if not cache_is_down(exc):
            raise
        log.warning("rate counts not read: cache down (%s)", exc)
        return [0] * len(series)
    return [sum(int(found.get(key) or 0) for key in keys[item]) for item in series]


def reset(scope: str, identity: str, *, period: int) -> None:
    """Forget the current window's count (a success that should clear past failures)."""
    if known_down():
        return
    try:
        cache.delete(_key(scope, identity, int(time.time() // period)))
    except Exception as exc:
        if not cache_is_down(exc):
            raise
        log.warning("rate limit %s not reset: cache down (%s)", scope, exc)


def _key(scope: str, identity: str, window: int) -> str:
    return f"ratelimit:{scope}:{identity}:{window}"


def _increment(key: str, period: int) -> int:
    client = _redis_client()
    if client is not None:
        # The same key Django's cache uses (prefix, version), so ``cache.get`` reads it.
        full_key = cache.make_and_validate_key(key)
        pipe = client.pipeline(transaction=False)
        pipe.set(full_key, 0, nx=True, ex=period + 1)
        pipe.incr(full_key)
        return int(pipe.execute()[1])
    cache.add(key, 0, timeout=period + 1)
    try:
        return cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.add(key, 1, timeout=period + 1)
        return 1


def _redis_client() -> redis.Redis | None:
    """A client on the cache's Redis, built once per process from the cache settings
    (the cache backend's own client is private), or ``None`` for another cache."""
    config = settings.CACHES["default"]
    if config["BACKEND"] != REDIS_BACKEND:
        return None
    options = config.get("OPTIONS", {})
    return _client_for(
        config["LOCATION"],
        options.get("socket_connect_timeout"),
        options.get("socket_timeout"),
    )


@lru_cache(maxsize=4)
def _client_for(location: str, connect_timeout: float | None, timeout: float | None):
    return redis.Redis.from_url(
        location, socket_connect_timeout=connect_timeout, socket_timeout=timeout
    )
