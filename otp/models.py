"""Verifications: one code sent to one recipient for one event of a stream."""

import uuid

from django.db import models
from django.db.models import Q


class Verification(models.Model):
    """Created by an auth request, moved by verification requests. Follows the states
    integrators know from the hosted services."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        CANCELED = "canceled", "Canceled"
        EXPIRED = "expired", "Expired"
        MAX_ATTEMPTS_REACHED = "max_attempts_reached", "Max attempts reached"
        FAILED = "failed", "Failed"  # the message could not be delivered

    class Channel(models.TextChoices):
        SMS = "sms", "SMS"
        VOICE = "voice", "Voice"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    stream = models.ForeignKey(
        "streams.Stream", on_delete=models.CASCADE, related_name="verifications"
    )
    event_template = models.ForeignKey(
        "streams.EventTemplate",
        null=True,
        on_delete=models.SET_NULL,
        related_name="verifications",
    )
    event_key = models.CharField(max_length=64)
    recipient = models.CharField(max_length=16)
    channel = models.CharField(max_length=5, choices=Channel.choices, default=Channel.SMS)
    code_hash = models.CharField(max_length=64, editable=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField()
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    caller_ip = models.GenericIPAddressField(null=True, blank=True)
    end_user_ip = models.GenericIPAddressField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The newest pending verification of (stream, recipient, event): cancelled by a
            # new send, found by verification requests that give recipient + event.
            models.Index(
                fields=["stream", "recipient", "event_key", "-created_at"],
                name="verification_lookup",
            ),
            models.Index(fields=["status", "expires_at"], name="verification_expiry"),
            models.Index(fields=["created_at"], name="verification_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="unique_idempotency_key_per_stream",
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "pending",
                        "approved",
                        "canceled",
                        "expired",
                        "max_attempts_reached",
                        "failed",
                    ]
                ),
                name="verification_status",
            ),
            models.CheckConstraint(
                condition=Q(attempts__lte=models.F("max_attempts")),
                name="verification_attempts_within_limit",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} to {self.recipient} ({self.status})"

    @property
    def attempts_left(self) -> int:
        return max(self.max_attempts - self.attempts, 0)


class SendCounter(models.Model):
    """Messages sent to one recipient by one stream in the current window: the
    per-recipient send limit. One row per (stream, recipient), locked while a send is
    decided, so the limit is exact however many requests race."""

    stream = models.ForeignKey(
        "streams.Stream", on_delete=models.CASCADE, related_name="send_counters"
    )
    recipient = models.CharField(max_length=16)
    window_started_at = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)
    # Set when the limit is reached: nothing more is sent before this time.
    blocked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "recipient"], name="unique_send_counter_per_recipient"
            ),
        ]
        indexes = [models.Index(fields=["window_started_at"], name="send_counter_window")]

    def __str__(self) -> str:
        return f"{self.recipient}: {self.count} in {self.stream_id}"
