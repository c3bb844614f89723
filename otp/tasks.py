"""Periodic clean-up of verifications (celery beat)."""

from celery import shared_task

from . import housekeeping


@shared_task(name="otp.expire_verifications")
def expire_verifications_task() -> int:
    return housekeeping.expire_verifications()


@shared_task(name="otp.prune_verifications")
def prune_verifications_task() -> int:
    return housekeeping.prune_verifications()
