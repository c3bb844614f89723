"""Gateways (configured providers), accounts' routes through them, and the outbound
messages they carry with every delivery attempt."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from decimal import Decimal

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import connections, models
from django.db.models import Case, F, Q, Value, When
from django.db.models.expressions import RawSQL
from django.utils import timezone

from streams import channels, phones, validators
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


def validate_route_prefix(value: str) -> None:
    if not validators.NUMBER_PREFIX_RE.match(value):
        raise ValidationError("A number prefix in international form: + and 1 to 15 digits.")


class RouteRule(models.Model):
    """Which gateways carry the messages it matches, and in what order. A rule of a
    stream comes first, then the account's, then the platform's (no account; edited by
    operators in the admin), then the default gateway. Among the rules of one level
    that match, the most specific wins (a longer number prefix, then a country, then a
    channel), then the lower ``priority``. See ``gateways.routes``."""

    class Mode(models.TextChoices):
        FAILOVER = "failover", "Failover: the hops in order"
        WEIGHTED = "weighted", "Weighted: the first hop picked by weight, then failover"
        LEAST_COST = "least_cost", "Least cost: the cheapest hop first (price table)"

    ANY = ""
    CHANNEL_CHOICES = [(ANY, "Any channel"), *channels.Channel.choices]

    account = models.ForeignKey(
        "streams.Account",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="route_rules",
        help_text="Empty: a platform rule, for every account without a rule of its own.",
    )
    stream = models.ForeignKey(
        "streams.Stream",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="route_rules",
        help_text="Empty: every stream of the account.",
    )
    name = models.CharField(max_length=60, blank=True)
    channel = models.CharField(max_length=5, choices=CHANNEL_CHOICES, blank=True, default=ANY)
    country = models.CharField(
        max_length=3,
        blank=True,
        help_text="ISO 3166 alpha-2 (GB), or 001 for non-geographic numbers. Empty: any.",
    )
    prefix = models.CharField(
        max_length=16,
        blank=True,
        validators=[validate_route_prefix],
        help_text="Numbers starting with this, in international form (+447). Empty: any.",
    )
    priority = models.PositiveSmallIntegerField(
        default=100, help_text="Between equally specific rules, the lower number wins."
    )
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.FAILOVER)
    learn = models.BooleanField(
        default=False,
        help_text="Demote a gateway whose conversion for a country falls below the "
        "threshold times the best other hop's, and promote it back when it recovers.",
    )
    learn_threshold = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=Decimal("0.50"),
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("1"))],
        help_text="Demote below this fraction of the best other hop's conversion.",
    )
    learn_min_sample = models.PositiveIntegerField(
        default=50,
        validators=[MinValueValidator(1)],
        help_text="Messages a gateway and its best alternative need in the window to be judged.",
    )
    learn_probe_percent = models.PositiveSmallIntegerField(
        default=10,
        validators=[MaxValueValidator(50)],
        help_text="Share of messages that still try a demoted gateway first, so that its "
        "recovery is seen.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account_id", "stream_id", "priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(stream__isnull=True) | Q(account__isnull=False),
                name="route_rule_stream_has_account",
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.level} rule #{self.pk}"

    @property
    def level(self) -> str:
        if self.stream_id:
            return "stream"
        return "account" if self.account_id else "platform"

    @property
    def matches_text(self) -> str:
        """What it matches, in words: "SMS to GB, +447…"."""
        channel = self.get_channel_display() if self.channel else "any channel"
        where = [self.country or "", f"{self.prefix}…" if self.prefix else ""]
        return f"{channel} to {', '.join(w for w in where if w) or 'any number'}"

    def clean(self) -> None:
        self.country = (self.country or "").strip().upper()
        self.prefix = (self.prefix or "").replace(" ", "")
        errors = {}
        if self.country and not (
            self.country == phones.NON_GEOGRAPHIC or phones.is_region(self.country)
        ):
            errors["country"] = f"Unknown country code {self.country!r}."
        if self.stream_id and self.stream.account_id != self.account_id:
            errors["stream"] = "The stream belongs to another account."
        if errors:
            raise ValidationError(errors)

    def matches(self, *, channel: str, country: str, recipient: str) -> bool:
        return (
            (not self.channel or self.channel == channel)
            and (not self.country or self.country == country)
            and recipient.startswith(self.prefix)
        )

    def specificity(self) -> tuple:
        """Sorts the most specific first: prefix (longer first), country, channel,
        then the lower priority."""
        return (-len(self.prefix), not self.country, not self.channel, self.priority, self.pk)


class RouteHop(models.Model):
    """One gateway of a rule: its place in the failover order and, for a weighted rule,
    its share of the first picks."""

    rule = models.ForeignKey(RouteRule, on_delete=models.CASCADE, related_name="hops")
    gateway = models.ForeignKey(Gateway, on_delete=models.CASCADE, related_name="route_hops")
    position = models.PositiveSmallIntegerField(default=0)
    weight = models.PositiveSmallIntegerField(
        default=1, help_text="Weighted rules: this hop's share of first picks."
    )

    class Meta:
        ordering = ["rule", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "gateway"], name="unique_rule_hop"),
        ]

    def __str__(self) -> str:
        return f"{self.rule} #{self.position}: {self.gateway.name}"


class RouteDemotion(models.Model):
    """A gateway a learning rule currently moves to the end of its hops for a country.
    One row per (rule, gateway, country): created on demotion and deleted on promotion,
    each a single statement, so two learners never record one change twice."""

    rule = models.ForeignKey(RouteRule, on_delete=models.CASCADE, related_name="demotions")
    gateway = models.ForeignKey(Gateway, on_delete=models.CASCADE, related_name="+")
    country = models.CharField(max_length=3)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "gateway", "country"], name="unique_route_demotion"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule} demotes gateway {self.gateway_id} for {self.country}"


class RouteDecision(models.Model):
    """A learning rule demoted or promoted a gateway for a country, and on what figures:
    the operator's record of why traffic moved."""

    class Action(models.TextChoices):
        DEMOTE = "demote", "Demoted"
        PROMOTE = "promote", "Promoted"

    rule = models.ForeignKey(RouteRule, on_delete=models.CASCADE, related_name="decisions")
    gateway = models.ForeignKey(Gateway, on_delete=models.CASCADE, related_name="+")
    country = models.CharField(max_length=3)
    action = models.CharField(max_length=7, choices=Action.choices)
    # The gateway's figures over the window: messages sent, delivered ÷ sent, approved ÷ sent.
    sample = models.PositiveIntegerField()
    delivery_rate = models.FloatField()
    conversion_rate = models.FloatField()
    # The best other hop of the rule for that country, and its figures.
    best_gateway = models.ForeignKey(
        Gateway, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    best_sample = models.PositiveIntegerField(default=0)
    best_conversion_rate = models.FloatField(null=True)
    threshold = models.DecimalField(max_digits=3, decimal_places=2)
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["rule", "-created_at"], name="route_decision_recent")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.gateway.name} for {self.country}"


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

        connection = connections[self.db]
        if connection.vendor == "postgresql":
            # Each row's value looked up in arrays of (id, value): a statement the ORM
            # compiles in constant time, where a CASE with a branch per message cost
            # most of a batch's CPU to compile.
            ids = list(sent)
            quote = connection.ops.quote_name
            row_id = f"{quote(self.model._meta.db_table)}.{quote('id')}"

            def per_message(pick, name: str) -> RawSQL:
                field = self.model._meta.get_field(name)
                kind = field.db_type(connection)
                values = f"unnest(%s::uuid[], %s::{kind}[]) AS v(id, value)"
                lookup = f"SELECT v.value FROM {values} WHERE v.id = {row_id}"  # noqa: S608
                return RawSQL(  # noqa: S611 - our SQL: a column type and a column name
                    lookup,
                    (ids, [pick(v) for v in sent.values()]),
                    output_field=field,
                )
        else:

            def per_message(pick, name: str) -> Case:
                return Case(*(When(id=i, then=Value(pick(v))) for i, v in sent.items()))

        now = timezone.now()
        provider_ids = per_message(lambda v: v[0], "provider_message_id")
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
                name: per_message(lambda v, name=name: v[1][name], name)
                for name in ("attempts", "hop_attempts", "route_position")
            },
        )
        if moved < len(sent):  # a delivery report raced ahead: only the send's own facts
            mine.filter(provider_message_id="").exclude(status=Status.SENDING).update(
                gateway=gateway, provider_message_id=provider_ids, sent_at=now
            )
        return moved

    def forget_codes(self, *, now: datetime, approved: bool = False) -> int:
        """The code of these messages stopped counting: what is still queued is canceled
        (never sent), what is being sent is masked once recorded (``expires_at``), and
        the text of what is done is replaced by its masked copy, so that not even the
        encryption key reveals the code any more. ``approved``: it stopped because it
        was approved, a conversion for the gateways that took these messages. Returns
        how many rows it touched."""
        rows, values = self.forgetting_codes(now=now, approved=approved)
        # One statement: it runs in the request that approves a code.
        return rows.update(**values)

    def forgetting_codes(
        self, *, now: datetime, approved: bool = False
    ) -> tuple[OutboundMessageQuerySet, dict]:
        """:meth:`forget_codes` as the rows it changes and their new values, for a caller
        that sends it within a larger statement (``streams.statements``)."""
        queued, sending = Q(status=Status.QUEUED), Q(status=Status.SENDING)
        has_mask = ~Q(masked_text="")
        counts = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        text = self.model._meta.get_field("text")
        took = Q(status__in=[Status.SENT, Status.DELIVERED], gateway__isnull=False)
        return self.filter(queued | sending | has_mask), {
            "status": Case(When(queued, then=Value(Status.CANCELED)), default=F("status")),
            "text": Case(
                When(sending | ~has_mask, then=F("text")),
                default=F("masked_text"),
                output_field=text,
            ),
            "masked_text": Case(
                When(sending, then=F("masked_text")), default=Value(""), output_field=text
            ),
            "expires_at": Case(When(sending & counts, then=Value(now)), default=F("expires_at")),
            "next_attempt_at": Case(When(queued, then=Value(None)), default=F("next_attempt_at")),
            "updated_at": now,
            **(
                {"approved_at": Case(When(took, then=Value(now)), default=F("approved_at"))}
                if approved
                else {}
            ),
        }

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
    # The stream it was sent for (routing rules of a stream come first).
    stream = models.ForeignKey(
        "streams.Stream",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="outbound_messages",
    )
    # The verification the message carries a code of: a plain reference, not a foreign
    # key, because otp sits above gateways (see gateways.selectors for the reads).
    verification_id = models.UUIDField(null=True, blank=True, db_index=True)
    channel = models.CharField(max_length=5, choices=Channel.choices, default=Channel.SMS)
    recipient = models.CharField(max_length=16)
    # The recipient's region (streams.phones.region_of), read once when queued: the
    # routing rules match on it and the routes learn per gateway and country.
    country = models.CharField(max_length=3, blank=True, default="", db_default="")
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
    # When the code it carried was approved (a conversion, for the routes that learn);
    # set only on messages a gateway took.
    approved_at = models.DateTimeField(null=True, blank=True)

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
            # What the routes that learn read: the recent sends of each gateway.
            models.Index(
                fields=["sent_at"], condition=Q(gateway__isnull=False), name="message_sent"
            ),
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
