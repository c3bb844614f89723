"""Periodic clean-up of verifications (celery beat)."""

from celery import shared_task

from . import fallbacks, housekeeping


@shared_task(name="otp.expire_verifications")
def expire_verifications_task() -> int:
    return housekeeping.expire_verifications()


@shared_task(name="otp.prune_verifications")
def prune_verifications_task() -> int:
    return housekeeping.prune_verifications()


@shared_task(name="otp.fire_due_fallbacks")
def fire_due_fallbacks_task() -> int:
    return fallbacks.fire_due_fallbacks()
