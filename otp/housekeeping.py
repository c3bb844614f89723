"""Writes no request makes: expiry and pruning (failed messages: ``fallbacks``)."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gateways.services import forget_messages_of
from streams import webhooks as streams_webhooks

from . import webhooks
from .models import BudgetCounter, SendCounter, SendDecision, Verification


def expire_verifications() -> int:
    """Mark pending verifications past their time to live as expired (the API already
    treats them so; this keeps the stored status and the console honest)."""
    now = timezone.now()
    due = Verification.objects.pending().filter(expires_at__lte=now)
    # Those whose stream has webhooks: expired with their events, in one transaction.
    with transaction.atomic():
        reported = list(
            due.filter(stream__webhooks_enabled=True)
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:5000]
        )
        count = Verification.objects.filter(id__in=reported).expire_due(now=now)
        webhooks.record_endings(reported)
    return count + due.expire_due(now=now)


def prune_verifications() -> int:
    """Delete verifications and guard decisions older than the retention period, send
    counters whose window and block are long over, and budget counters of periods
    that ended more than a month before."""
    now = timezone.now()
    old_verifications = Verification.objects.filter(created_at__lt=now - settings.OTP_RETENTION)
    # Their messages go with them (no foreign key cascades across the layers).
    forget_messages_of(old_verifications.values("id"))
    _, by_model = old_verifications.delete()
    streams_webhooks.prune_events(before=now - settings.OTP_RETENTION)
    old = now - timedelta(days=8)  # longer than the longest cooldown (7 days)
    SendCounter.objects.filter(window_started_at__lt=old).exclude(blocked_until__gt=now).delete()
    SendDecision.objects.filter(created_at__lt=now - settings.OTP_RETENTION).delete()
    BudgetCounter.objects.filter(period_start__lt=(now - timedelta(days=62)).date()).delete()
    return by_model.get(Verification._meta.label, 0)
