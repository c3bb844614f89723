"""Periodic work on verifications (celery beat): clean-up, and the analytics' rollups."""

from celery import shared_task

from . import fallbacks, housekeeping, rollups


@shared_task(name="otp.expire_verifications")
def expire_verifications_task() -> int:
    return housekeeping.expire_verifications()


@shared_task(name="otp.prune_verifications")
def prune_verifications_task() -> int:
    return housekeeping.prune_verifications()


@shared_task(name="otp.fire_due_fallbacks")
def fire_due_fallbacks_task() -> int:
    return fallbacks.fire_due_fallbacks()


@shared_task(name="otp.refresh_rollups")
def refresh_rollups_task() -> int:
    return rollups.refresh_rollups()
