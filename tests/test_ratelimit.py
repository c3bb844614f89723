"""The shared rate counter (``streams.ratelimit``) on whichever cache the run has: the
process's Redis client with ``REDIS_URL``, Django's local-memory cache without."""

import uuid

from streams import ratelimit


def test_a_hit_counted_with_the_read_is_seen_by_it_and_by_the_next_read():
    scope, who = "test-hit-first", uuid.uuid4().hex
    other = ("test-hit-first-other", who)
    now = 1_000_000.0
    ratelimit.hit(*other, limit=10, period=60, now=now, keep_windows=3)
    totals = ratelimit.recent_totals(
        [(scope, who), other], period=60, windows=3, now=now, hit_first=(scope, who)
    )
    assert totals == [1, 1]
    # Two windows later the first hit still counts (kept for the 3 windows read) ...
    later = now + 120
    assert ratelimit.recent_totals(
        [(scope, who)], period=60, windows=3, now=later, hit_first=(scope, who)
    ) == [2]
    # ... and a read without a hit counts nothing more.
    assert ratelimit.recent_totals([(scope, who)], period=60, windows=3, now=later) == [2]
