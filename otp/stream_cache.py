"""The stream an API token names, with its sender and enabled event templates, cached
by the token's hash: every API call needs it, and it changes rarely.

Every write that could change what an API call sees deletes the entry at once — a
stream saved (status, settings, a rotated token: the old hash too), deleted, one of its
templates, its default sender or a budget of it or its account saved or deleted —
through model signals, in every process, because the cache is shared. Writes must go
through ``save()``/``delete()`` (all of the product's do); a bulk
``QuerySet.update()`` would leave an entry up to ``OTP_STREAM_CACHE_SECONDS`` old. A
cache that is down only costs the query.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from django.db.models import Exists, OuterRef, Q
from django.db.models.signals import post_delete, post_save, pre_save

from streams import ratelimit
from streams.models import Budget, EventTemplate, SenderID, Stream

log = logging.getLogger(__name__)


def _key(token_hash: str) -> str:
    return f"api-stream:{token_hash}"


def stream_for_token_hash(token_hash: str) -> Stream | None:
    stream, _ = stream_and_hits(token_hash, [])
    return stream


def stream_and_hits(
    token_hash: str, counters: list[ratelimit.Counter]
) -> tuple[Stream | None, list[ratelimit.Decision]]:
    """The stream of ``token_hash`` and the decisions of the request's throttles: one
    Redis round trip for both when the stream is cached (the hot path of every call)."""
    ttl = settings.OTP_STREAM_CACHE_SECONDS
    found = ratelimit.hit_and_read(counters, read=_key(token_hash) if ttl else None)
    if found.value is not None:
        return found.value, found.decisions
    # Whether any budget applies to it: a send without one skips the budget statement.
    budgets = Budget.objects.filter(
        Q(stream=OuterRef("pk")) | Q(account=OuterRef("account_id"), stream__isnull=True)
    )
    stream = (
        Stream.objects.select_related("account", "default_sender")
        .annotate(has_budgets=Exists(budgets))
        .filter(Q(token_hash=token_hash) | Q(test_token_hash=token_hash))
        .first()
    )
    if stream is None:
        return None, found.decisions
    # Called with the test token: test mode (only test numbers, nothing reaches a gateway).
    stream.test_mode = stream.test_token_hash == token_hash
    stream.enabled_templates = {t.key: t for t in stream.templates.filter(enabled=True)}
    if ttl and not found.cache_down:
        ratelimit.remember(_key(token_hash), stream, ttl)
    return stream, found.decisions


def forget(token_hashes: Iterable[str | None]) -> None:
    keys = [_key(h) for h in token_hashes if h]
    if keys:
        cache.delete_many(keys)


def _remember_old_hash(sender, instance: Stream, **kwargs) -> None:
    if instance.pk:
        old = (
            Stream.objects.filter(pk=instance.pk)
            .values_list("token_hash", "test_token_hash")
            .first()
        )
        instance._old_token_hashes = list(old or [])


def _stream_changed(sender, instance: Stream, **kwargs) -> None:
    forget(
        [instance.token_hash, instance.test_token_hash, *getattr(instance, "_old_token_hashes", [])]
    )


def _template_changed(sender, instance: EventTemplate, **kwargs) -> None:
    _forget_streams(Stream.objects.filter(pk=instance.stream_id))


def _sender_changed(sender, instance: SenderID, **kwargs) -> None:
    _forget_streams(Stream.objects.filter(default_sender=instance))


def _forget_streams(streams) -> None:
    forget(h for pair in streams.values_list("token_hash", "test_token_hash") for h in pair)


def _budget_changed(sender, instance: Budget, **kwargs) -> None:
    streams = Stream.objects.filter(account_id=instance.account_id)
    if instance.stream_id:
        streams = streams.filter(pk=instance.stream_id)
    _forget_streams(streams)


def connect() -> None:
    pre_save.connect(_remember_old_hash, sender=Stream, dispatch_uid="stream-cache-pre")
    post_save.connect(_stream_changed, sender=Stream, dispatch_uid="stream-cache-save")
    post_delete.connect(_stream_changed, sender=Stream, dispatch_uid="stream-cache-delete")
    for signal in (post_save, post_delete):
        signal.connect(_template_changed, sender=EventTemplate, dispatch_uid=f"tpl-{signal}")
        signal.connect(_sender_changed, sender=SenderID, dispatch_uid=f"snd-{signal}")
        signal.connect(_budget_changed, sender=Budget, dispatch_uid=f"budget-{signal}")
