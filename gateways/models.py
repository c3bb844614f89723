"""Gateways (configured providers), accounts' routes through them, and the outbound
messages they carry with every delivery attempt."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import connections, models
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from streams import channels, phones
from streams.crypto import EncryptedJSONField, EncryptedTextField

from .adapters import REGISTRY


def new_receipt_secret() -> str:
    return secrets.token_urlsafe(24)


class Gateway(models.Model):
    """A configured provider. ``settings`` holds what may be shown (URLs, usernames);
    ``credentials`` holds secrets: encrypted at rest, write-only in the admin."""

    class Kind(models.TextChoices):
        CONSOLE = "console", "Console outbox (development)"
        NOOP = "noop", "No-op (benchmarks)"
        KANNEL = "kannel", "Kannel (HTTP sendsms)"
        SMPP = "smpp", "SMPP 3.4 (an SMSC, e.g. Jasmin)"
        TWILIO = "twilio", "Twilio"
        VONAGE = "vonage", "Vonage SMS"
        WEBHOOK = "webhook", "HTTP webhook (HMAC-signed JSON)"

    name = models.CharField(max_length=60, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    enabled = models.BooleanField(default=True)
    supports_sms = models.BooleanField(default=True)
    supports_voice = models.BooleanField(default=False)
    settings = models.JSONField(default=dict, blank=True)
    credentials = EncryptedJSONField(default=dict, blank=True)
    # Authenticates delivery reports posted back to us for this gateway.
    receipt_secret = models.CharField(max_length=64, default=new_receipt_secret, editable=False)
    # The provider's throughput limit: messages per second (0 = no limit).
    rate_per_second = models.PositiveIntegerField(default=0)

    class DeliveryGuarantee(models.TextChoices):
        AT_LEAST_ONCE = "at_least_once", "At least once (resend, marked possibly duplicated)"
        AT_MOST_ONCE = "at_most_once", "At most once (never resend, may be lost)"

    # What to do with a message whose worker was lost during the provider call, when
    # the provider can neither be asked nor deduplicates (see docs/security.md).
    delivery_guarantee = models.CharField(
        max_length=13,
        choices=DeliveryGuarantee.choices,
        default=DeliveryGuarantee.AT_LEAST_ONCE,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def clean(self) -> None:
        """The settings and credentials the kind's adapter declares, and no capability it
        lacks: a gateway that passes cannot fail on its own configuration."""
        adapter = REGISTRY.get(self.kind)
        if adapter is None:
            raise ValidationError({"kind": f"No adapter handles the kind {self.kind!r}."})
        errors: dict[str, list[str]] = {}
        if problems := adapter.check(self.settings, adapter.setting_specs()):
            errors["settings"] = problems
        if problems := adapter.check(self.credentials, adapter.credential_specs()):
            errors["credentials"] = problems
        if self.supports_sms and not adapter.sms:
            errors["supports_sms"] = [f"A {self.kind} gateway cannot send SMS."]
        if self.supports_voice and not adapter.voice:
            errors["supports_voice"] = [f"A {self.kind} gateway cannot place voice calls."]
        if errors:
            raise ValidationError(errors)

    def carries(self, channel: str) -> bool:
        """Whether this gateway takes messages of ``channel``: configured so, and able to."""
        adapter = REGISTRY.get(self.kind)
        if adapter is None:
            return False
        if channel == OutboundMessage.Channel.VOICE:
            return self.supports_voice and adapter.voice
        return self.supports_sms and adapter.sms


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


class OutboundMessageQuerySet(models.QuerySet):
    """Every status change of a message, each one conditional ``UPDATE`` that returns
    how many rows moved: two workers, or a worker and a delivery report, never both win."""

    def claim(self) -> int:
        """queued -> sending, stamped so a dead worker's claim can be released; only
        while the message's code still counts."""
        now = timezone.now()
        counts = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        return self.filter(counts, status=Status.QUEUED).update(
            status=Status.SENDING, claimed_at=now, updated_at=now
        )

    def claim_batch(self, *, channel: str, limit: int) -> list[OutboundMessage]:
        """Claim up to ``limit`` queued messages of ``channel`` that are due and whose
        code still counts (as ``claim``), oldest first, in one statement: rows another
        worker is claiming are skipped, not waited for (``FOR UPDATE SKIP LOCKED``;
        SQLite has one writer at a time)."""
        now = timezone.now()
        table = OutboundMessage._meta.db_table
        connection = connections[self.db]
        skip_locked = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
        adapt = connection.ops.adapt_datetimefield_value
        statement = f"""
            UPDATE {table} SET status = %s, claimed_at = %s, updated_at = %s
            WHERE id IN (
                SELECT id FROM {table}
                WHERE status = %s AND channel = %s
                    AND (next_attempt_at IS NULL OR next_attempt_at <= %s)
                    AND (expires_at IS NULL OR expires_at > %s)
                ORDER BY created_at LIMIT %s{skip_locked}
            )
            RETURNING *
        """  # noqa: S608 - the only interpolations are our table name and a fixed clause
        at = adapt(now)
        params = [Status.SENDING, at, at, Status.QUEUED, channel, at, at, limit]
        return list(self.model.objects.db_manager(self.db).raw(statement, params))

    def mark_sent_many(self, sent: dict, *, gateway: Gateway) -> int:
        """``mark_sent`` for many messages of one gateway in two statements, whatever
        their number: ``sent`` maps a message id to (provider message id, progress)."""
        if not sent:
            return 0

        def per_message(pick) -> Case:
            return Case(*(When(id=i, then=Value(pick(v))) for i, v in sent.items()))

        now = timezone.now()
        provider_ids = per_message(lambda v: v[0])
        mine = self.filter(id__in=list(sent))
        moved = mine.filter(status=Status.SENDING).update(
            status=Status.SENT,
            gateway=gateway,
            provider_message_id=provider_ids,
            sent_at=now,
            next_attempt_at=None,
            updated_at=now,
            **self._masked_if_done(now),
            **{
                name: per_message(lambda v, name=name: v[1][name])
                for name in ("attempts", "hop_attempts", "route_position")
            },
        )
        if moved < len(sent):  # a delivery report raced ahead: only the send's own facts
            mine.filter(provider_message_id="").exclude(status=Status.SENDING).update(
                gateway=gateway, provider_message_id=provider_ids, sent_at=now
            )
        return moved

    def forget_codes(self, *, now: datetime) -> int:
        """The code of these messages stopped counting: what is still queued is canceled
        (never sent), what is being sent is masked once recorded (``expires_at``), and
        the text of what is done is replaced by its masked copy, so that not even the
        encryption key reveals the code any more. Returns how many rows it touched."""
        queued, sending = Q(status=Status.QUEUED), Q(status=Status.SENDING)
        has_mask = ~Q(masked_text="")
        counts = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        text = self.model._meta.get_field("text")
        # One statement: it runs in the request that approves a code.
        return self.filter(queued | sending | has_mask).update(
            status=Case(When(queued, then=Value(Status.CANCELED)), default=F("status")),
            text=Case(
                When(sending | ~has_mask, then=F("text")),
                default=F("masked_text"),
                output_field=text,
            ),
            masked_text=Case(
                When(sending, then=F("masked_text")), default=Value(""), output_field=text
            ),
            expires_at=Case(When(sending & counts, then=Value(now)), default=F("expires_at")),
            next_attempt_at=Case(When(queued, then=Value(None)), default=F("next_attempt_at")),
            updated_at=now,
        )

    def release(self, *, retry_at: datetime | None = None, **progress) -> int:
        """sending -> queued: the claim given back, to be tried again at ``retry_at``."""
        if retry_at is not None:
            progress["next_attempt_at"] = retry_at
        return self.filter(status=Status.SENDING).update(
            status=Status.QUEUED,
            claimed_at=None,
            updated_at=timezone.now(),
            **progress,
        )

    def mark_sent(self, *, gateway: Gateway, provider_message_id: str, **progress) -> int:
        """sending -> sent. When a delivery report raced ahead and moved it on already,
        only the send's own facts are filled in."""
        now = timezone.now()
        moved = self.filter(status=Status.SENDING).update(
            status=Status.SENT,
            gateway=gateway,
            provider_message_id=provider_message_id,
            sent_at=now,
            next_attempt_at=None,
            updated_at=now,
            **self._masked_if_done(now),
            **progress,
        )
        if not moved:
            self.filter(provider_message_id="").update(
                gateway=gateway,
                provider_message_id=provider_message_id,
                sent_at=now,
                updated_at=now,  # the gateway changed: the analytics recount this row
            )
        return moved

    def _masked_if_done(self, now: datetime) -> dict:
        """A code that stopped counting while it was being sent is masked at once."""
        done = Q(expires_at__lte=now) & ~Q(masked_text="")
        text = self.model._meta.get_field("text")
        return {
            "text": Case(When(done, then=F("masked_text")), default=F("text"), output_field=text),
            "masked_text": Case(
                When(done, then=Value("")), default=F("masked_text"), output_field=text
            ),
        }

    def mark_failed(self, *, error: str, **progress) -> int:
        """sending -> failed: no gateway of the route could send it."""
        return self.filter(status=Status.SENDING).update(
            status=Status.FAILED,
            last_error=error[:2000],
            hop_attempts=0,
            next_attempt_at=None,
            updated_at=timezone.now(),
            **progress,
        )

    def apply_receipt_status(
        self, status: str, *, provider_status: str = "", error: str = ""
    ) -> int:
        """Move to a delivery report's ``status``, forward only: a duplicate or late
        report (a "sent" after "delivered") changes nothing."""
        now = timezone.now()
        behind = [s for s, rank in PROGRESS.items() if rank < PROGRESS[status]]
        fields: dict = {"provider_status": provider_status[:40], "status": status}
        if status == Status.DELIVERED:
            fields["delivered_at"] = now
        if error:
            fields["last_error"] = error[:2000]
        return self.filter(status__in=behind).update(updated_at=now, **fields)

    def due_for_requeue(self, *, now: datetime, grace) -> OutboundMessageQuerySet:
        """Queued longer than ``grace`` past their due time: the broker was down at
        enqueue, or the task vanished."""
        due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=now - grace)
        return self.filter(due, status=Status.QUEUED, updated_at__lt=now - grace)


class OutboundMessage(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        UNDELIVERED = "undelivered", "Undelivered"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"  # its code stopped counting before it was sent

    class Encoding(models.TextChoices):
        GSM7 = "gsm7", "GSM-7"
        UCS2 = "ucs2", "UCS-2"

    Channel = channels.Channel

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(
        "streams.Account", on_delete=models.CASCADE, related_name="outbound_messages"
    )
    # The verification the message carries a code of: a plain reference, not a foreign
    # key, because otp sits above gateways (see gateways.selectors for the reads).
    verification_id = models.UUIDField(null=True, blank=True, db_index=True)
    channel = models.CharField(max_length=5, choices=Channel.choices, default=Channel.SMS)
    recipient = models.CharField(max_length=16)
    sender = models.CharField(max_length=16, blank=True)
    # Encrypted at rest: it holds the code. ``masked_text`` is the same text with the
    # code masked (rendered at queue time, when the code is known); it replaces ``text``
    # once the message is done and its code no longer counts, and is emptied then.
    text = EncryptedTextField()
    masked_text = EncryptedTextField(blank=True)
    # When the code stops counting: its verification's expiry, brought forward when the
    # verification is decided. A message still queued then is canceled, never sent.
    expires_at = models.DateTimeField(null=True, blank=True)
    encoding = models.CharField(max_length=4, choices=Encoding.choices, default=Encoding.GSM7)
    segments = models.PositiveSmallIntegerField(default=1)
    # What the price table said it would cost when it was queued (gateways.prices);
    # empty when no price was known.
    estimated_cost = models.DecimalField(max_digits=12, decimal_places=5, null=True, blank=True)
    voice_language = models.CharField(max_length=35, blank=True)
    voice_gender = models.CharField(max_length=6, blank=True)
    # A call's script (gateways.voice.VoiceScript), read by the voice adapters.
    voice = models.JSONField(default=dict, blank=True)
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
    # Test mode: the scripted outcome played instead of a gateway (delivered,
    # undelivered, submit_failure, never_delivered); empty for a real message. Test
    # messages reach no provider and count against no budget.
    test_outcome = models.CharField(max_length=16, blank=True, default="", db_default="")
    # Sent again after a worker was lost during the provider call, which may have
    # reached the provider: the recipient may get it twice.
    possibly_duplicated = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = OutboundMessageQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "updated_at"], name="message_status_updated"),
            models.Index(fields=["gateway", "provider_message_id"], name="message_provider_id"),
            models.Index(fields=["account", "-created_at"], name="message_account_recent"),
            # What the batch claim reads: only queued messages, oldest first.
            models.Index(
                fields=["channel", "created_at"],
                condition=Q(status="queued"),
                name="message_queued",
            ),
            # The analytics' rollups look for the messages changed since their last run.
            models.Index(fields=["updated_at"], name="message_updated"),
            # The messages whose code is still to be masked once it stops counting.
            models.Index(
                fields=["expires_at"], condition=~Q(masked_text=""), name="message_code_unmasked"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "queued",
                        "sending",
                        "sent",
                        "delivered",
                        "undelivered",
                        "failed",
                        "canceled",
                    ]
                ),
                name="message_status",
            ),
            models.CheckConstraint(condition=Q(segments__gte=0), name="message_segments"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} to {self.recipient} ({self.status})"


Status = OutboundMessage.Status

# How far along a message is: a delivery report may only move it forward.
PROGRESS = {
    Status.QUEUED: 0,
    Status.SENDING: 1,
    Status.SENT: 2,
    Status.DELIVERED: 3,
    Status.UNDELIVERED: 3,
    Status.FAILED: 3,
    Status.CANCELED: 3,
}


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


def default_currency() -> str:
    return django_settings.OTP_CURRENCY


class Price(models.Model):
    """What one SMS segment or one voice call to a country costs, through one gateway
    or (gateway empty) through any. Edited in the admin, imported as CSV
    (``manage.py import_prices``); read by ``gateways.prices.estimate``."""

    Channel = channels.Channel

    country = models.CharField(
        max_length=3, help_text="ISO 3166 alpha-2 (GB), or 001 for non-geographic numbers."
    )
    channel = models.CharField(max_length=5, choices=Channel.choices)
    gateway = models.ForeignKey(
        Gateway,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="prices",
        help_text="Empty: the price through any gateway that has none of its own.",
    )
    amount = models.DecimalField(
        max_digits=10,
        decimal_places=5,
        validators=[MinValueValidator(0)],
        help_text="Per SMS segment, or per voice call.",
    )
    currency = models.CharField(max_length=3, default=default_currency)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["country", "channel", "gateway"]
        constraints = [
            models.UniqueConstraint(
                fields=["country", "channel", "gateway"],
                condition=Q(gateway__isnull=False),
                name="unique_gateway_price",
            ),
            models.UniqueConstraint(
                fields=["country", "channel"],
                condition=Q(gateway__isnull=True),
                name="unique_default_price",
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="price_not_negative"),
        ]

    def __str__(self) -> str:
        through = self.gateway.name if self.gateway_id else "any gateway"
        return f"{self.country} {self.channel} via {through}: {self.amount} {self.currency}"

    def clean(self) -> None:
        self.country = (self.country or "").upper()
        if self.country != phones.NON_GEOGRAPHIC and not phones.is_region(self.country):
            raise ValidationError({"country": f"Unknown country code {self.country!r}."})
        if self.currency != django_settings.OTP_CURRENCY:
            raise ValidationError(
                {"currency": f"Prices are kept in {django_settings.OTP_CURRENCY} (OTP_CURRENCY)."}
            )
