"""Gateways (configured providers), accounts' routes through them, and the outbound
messages they carry with every delivery attempt."""

import secrets
import uuid

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from streams import channels


def new_receipt_secret() -> str:
    return secrets.token_urlsafe(24)


class Gateway(models.Model):
    """A configured provider. ``settings`` holds what may be shown (URLs, usernames);
    ``credentials`` holds secrets and is write-only in the admin."""

    class Kind(models.TextChoices):
        CONSOLE = "console", "Console outbox (development)"
        NOOP = "noop", "No-op (benchmarks)"
        KANNEL = "kannel", "Kannel (HTTP sendsms)"
        TWILIO = "twilio", "Twilio"
        VONAGE = "vonage", "Vonage SMS"
        SMPP = "smpp", "SMPP 3.4"
        WEBHOOK = "webhook", "HTTP webhook (HMAC-signed JSON)"

    name = models.CharField(max_length=60, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    enabled = models.BooleanField(default=True)
    supports_sms = models.BooleanField(default=True)
    supports_voice = models.BooleanField(default=False)
    settings = models.JSONField(default=dict, blank=True)
    credentials = models.JSONField(default=dict, blank=True)
    # Authenticates delivery reports posted back to us for this gateway.
    receipt_secret = models.CharField(max_length=64, default=new_receipt_secret, editable=False)
    # The provider's throughput limit: messages per second (0 = no limit).
    rate_per_second = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class Route(models.Model):
    """One hop of an account's ordered route: primary first, then fallbacks."""

    account = models.ForeignKey("streams.Account", on_delete=models.CASCADE, related_name="routes")
    gateway = models.ForeignKey(Gateway, on_delete=models.CASCADE, related_name="routes")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["account", "position"]
        constraints = [
            models.UniqueConstraint(fields=["account", "gateway"], name="unique_route_hop"),
        ]

    def __str__(self) -> str:
        return f"{self.account} #{self.position}: {self.gateway}"


class OutboundMessage(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        UNDELIVERED = "undelivered", "Undelivered"
        FAILED = "failed", "Failed"

    class Encoding(models.TextChoices):
        GSM7 = "gsm7", "GSM-7"
        UCS2 = "ucs2", "UCS-2"

    Channel = channels.Channel

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(
        "streams.Account", on_delete=models.CASCADE, related_name="outbound_messages"
    )
    verification = models.ForeignKey(
        "otp.Verification",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="messages",
    )
    channel = models.CharField(max_length=5, choices=Channel.choices, default=Channel.SMS)
    recipient = models.CharField(max_length=16)
    sender = models.CharField(max_length=16, blank=True)
    text = models.TextField()
    encoding = models.CharField(max_length=4, choices=Encoding.choices, default=Encoding.GSM7)
    segments = models.PositiveSmallIntegerField(default=1)
    voice_language = models.CharField(max_length=10, blank=True)
    voice_gender = models.CharField(max_length=6, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    gateway = models.ForeignKey(
        Gateway, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    provider_message_id = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Which hop of the account's route is being tried, and how often it was tried.
    route_position = models.PositiveSmallIntegerField(default=0)
    hop_attempts = models.PositiveSmallIntegerField(default=0)
    # When a worker claimed it (status ``sending``): a claim older than the task time
    # limit belongs to a dead worker and is released by the periodic re-queue.
    claimed_at = models.DateTimeField(null=True, blank=True)
    # The provider's last delivery-report status, as it said it.
    provider_status = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "updated_at"], name="message_status_updated"),
            models.Index(fields=["gateway", "provider_message_id"], name="message_provider_id"),
            models.Index(fields=["account", "-created_at"], name="message_account_recent"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    status__in=["queued", "sending", "sent", "delivered", "undelivered", "failed"]
                ),
                name="message_status",
            ),
            models.CheckConstraint(condition=Q(segments__gte=0), name="message_segments"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} to {self.recipient} ({self.status})"


class MessageAttempt(models.Model):
    """One try to hand a message to a gateway: the operator's audit trail."""

    class Outcome(models.TextChoices):
        SENT = "sent", "Sent"
        RETRYABLE = "retryable", "Retryable error"
        PERMANENT = "permanent", "Permanent error"

    message = models.ForeignKey(
        OutboundMessage, on_delete=models.CASCADE, related_name="attempt_log"
    )
    gateway = models.ForeignKey(Gateway, null=True, on_delete=models.SET_NULL)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    error = models.TextField(blank=True)
    provider_message_id = models.CharField(max_length=100, blank=True)
    duration_ms = models.PositiveIntegerField(default=0, validators=[MinValueValidator(0)])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.message_id} via {self.gateway}: {self.outcome}"
