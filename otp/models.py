"""Verifications: one code sent to one recipient for one event of a stream."""

import uuid
from datetime import datetime, timedelta

from django.db import connections, models
from django.db.models import Case, F, Q, Value, When, sql
from django.utils import timezone

from streams import channels, statements


class VerificationQuerySet(models.QuerySet):
    """The state changes of verifications, by name. Each is one conditional UPDATE on
    rows still pending and returns how many it moved, so concurrent requests race in
    the database: of two that try to move one row, exactly one moves it."""

    def pending(self) -> "VerificationQuerySet":
        return self.filter(status=Verification.Status.PENDING)

    def approve(self, *, now: datetime) -> int:
        """The right code, before expiry."""
        rows, values = self.approving(now=now)
        return rows.update(**values)

    def approving(self, *, now: datetime) -> tuple["VerificationQuerySet", dict]:
        """:meth:`approve` as the rows it changes and their new values, for a caller that
        sends it within a larger statement (``streams.statements``)."""
        return self.pending().filter(expires_at__gt=now), _decided(
            Verification.Status.APPROVED, Verification.Reason.APPROVED, now
        )

    def count_wrong_attempt(self, *, now: datetime) -> int:
        """A wrong code, before expiry and while attempts remain: one more attempt, and
        the verification locks (``max_attempts_reached``) on the last one."""
        return self._attemptable(now).update(**self._wrong_attempt(now))

    def count_wrong_attempt_returning(self, *, now: datetime) -> list[tuple[int, str]]:
        """``count_wrong_attempt``, answering each moved row's (attempts, status) from the
        same statement (``UPDATE … RETURNING``): no second read to say how many remain."""
        query = self._attemptable(now).query.chain(sql.UpdateQuery)
        query.add_update_values(self._wrong_attempt(now))
        query.order_by = ()
        statement, params = query.get_compiler(self.db).as_sql()
        quote = connections[self.db].ops.quote_name
        with connections[self.db].cursor() as cursor:
            cursor.execute(f"{statement} RETURNING {quote('attempts')}, {quote('status')}", params)
            return [(attempts, status) for attempts, status in cursor.fetchall()]

    def _attemptable(self, now: datetime) -> "VerificationQuerySet":
        return self.pending().filter(expires_at__gt=now, attempts__lt=F("max_attempts"))

    @staticmethod
    def _wrong_attempt(now: datetime) -> dict:
        last = Q(attempts__gte=F("max_attempts") - 1)
        return {
            "attempts": F("attempts") + 1,
            "status": Case(
                When(last, then=Value(Verification.Status.MAX_ATTEMPTS_REACHED)),
                default=F("status"),
            ),
            "decided_at": Case(When(last, then=Value(now)), default=F("decided_at")),
            "reason": Case(
                When(last, then=Value(Verification.Reason.MAX_ATTEMPTS_REACHED)),
                default=F("reason"),
            ),
            "sealed": Case(
                When(last, then=Value("")), default=F("sealed"), output_field=models.TextField()
            ),
            "changed_at": now,
        }

    def cancel(self, *, now: datetime) -> int:
        """Canceled by the client."""
        return self.pending().update(
            **_decided(Verification.Status.CANCELED, Verification.Reason.CANCELED_BY_CLIENT, now)
        )

    def replace(self, *, now: datetime, by: uuid.UUID, grace_seconds: int = 0) -> int:
        """A newer send for the same recipient and event replaced these: canceled now, or
        — with a grace period — still valid until ``now + grace_seconds`` (or their own
        expiry, if sooner), when ``expire_due`` cancels them as replaced."""
        rows, values = self.replacing(now=now, by=by, grace_seconds=grace_seconds)
        return rows.update(**values)

    def replacing(
        self, *, now: datetime, by: uuid.UUID, grace_seconds: int = 0
    ) -> tuple["VerificationQuerySet", dict]:
        """:meth:`replace` as the rows it changes and their new values, for a caller that
        sends it within a larger statement (``streams.statements``)."""
        if grace_seconds <= 0:
            return self.pending(), {
                "replaced_by_id": by,
                **_decided(Verification.Status.CANCELED, Verification.Reason.REPLACED, now),
            }
        until = now + timedelta(seconds=grace_seconds)
        return self.pending().filter(replaced_by_id__isnull=True), {
            "replaced_by_id": by,
            "sealed": "",  # nothing resends a replaced code
            "changed_at": now,
            "expires_at": Case(
                When(expires_at__gt=until, then=Value(until)), default=F("expires_at")
            ),
        }

    def expire_due(self, *, now: datetime) -> int:
        """Past their time to live: expired (or, for a replaced code whose grace period
        ended, canceled as replaced), decided when they expired."""
        replaced = Q(replaced_by_id__isnull=False)
        return (
            self.pending()
            .filter(expires_at__lte=now)
            .update(
                status=Case(
                    When(replaced, then=Value(Verification.Status.CANCELED)),
                    default=Value(Verification.Status.EXPIRED),
                ),
                reason=Case(
                    When(replaced, then=Value(Verification.Reason.REPLACED)),
                    default=Value(Verification.Reason.EXPIRED),
                ),
                decided_at=F("expires_at"),
                sealed="",
                changed_at=now,
            )
        )

    def fail(self, *, now: datetime, reason: str = "undeliverable") -> int:
        """The code can never be entered: its message could not be delivered
        (``undeliverable``), or the guard refused the send (``blocked``)."""
        return self.pending().update(**_decided(Verification.Status.FAILED, reason, now))


def _decided(status: str, reason: str, now: datetime) -> dict:
    """The fields every final state change writes: the status, the reason, when; and the
    recoverable code is dropped, since nothing may resend it any more; and ``changed_at``,
    so the rollups recompute the row's hour."""
    return {
        "status": status,
        "reason": reason,
        "decided_at": now,
        "sealed": "",
        "changed_at": now,
    }


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

    class Reason(models.TextChoices):
        """Why a verification is no longer pending: one precise reason per ending."""

        APPROVED = "approved", "Approved"
        EXPIRED = "expired", "Expired"
        MAX_ATTEMPTS_REACHED = "max_attempts_reached", "Max attempts reached"
        CANCELED_BY_CLIENT = "canceled_by_client", "Canceled by the client"
        REPLACED = "replaced", "Replaced by a newer verification"
        UNDELIVERABLE = "undeliverable", "Undeliverable"
        BLOCKED = "blocked", "Blocked by the guard"

    Channel = channels.Channel

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
    # The recipient's region (ISO 3166 alpha-2, "001" non-geographic): the analytics'
    # country, kept so that no report parses phone numbers.
    country = models.CharField(max_length=3, blank=True, default="")
    channel = models.CharField(max_length=5, choices=Channel.choices, default=Channel.SMS)
    code_hash = models.CharField(max_length=64, editable=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField()
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    # Why it is no longer pending (blank while pending), and the verification that
    # replaced it (reason ``replaced``; set at once when a grace period keeps it valid).
    reason = models.CharField(
        max_length=24, choices=Reason.choices, blank=True, default="", db_default=""
    )
    replaced_by_id = models.UUIDField(null=True, blank=True)
    # The code (and the template's variables) encrypted, for a resend of the same code or
    # a fallback channel: kept only while pending, emptied by every final state change.
    sealed = models.TextField(blank=True, default="", db_default="", editable=False)
    # Sent with the stream's test token to a test number: its messages reach no gateway,
    # and only the test token finds it.
    is_test = models.BooleanField(default=False, db_default=False)
    # Stamped by every state change (the queryset methods above): the rollups
    # (``otp/rollups.py``) recompute the hours whose rows changed since their last run.
    changed_at = models.DateTimeField(default=timezone.now)
    caller_ip = models.GenericIPAddressField(null=True, blank=True)
    end_user_ip = models.GenericIPAddressField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=128, blank=True, default="")
    # The locale of the message's text (the variant used, or the stream's default).
    locale = models.CharField(max_length=35, blank=True, default="", db_default="")

    objects = VerificationQuerySet.as_manager()

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
            models.Index(fields=["changed_at"], name="verification_changed"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="unique_idempotency_key_per_stream",
            ),
            # Only the newest code works, however many sends race: at most one pending
            # verification per (stream, recipient, event) besides those replaced ones
            # still in their grace period. A send that loses the race gets an
            # IntegrityError and retries (see ``otp.services.send_otp``).
            models.UniqueConstraint(
                fields=["stream", "recipient", "event_key"],
                condition=Q(status="pending", replaced_by_id__isnull=True),
                name="one_pending_verification_per_event",
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
            models.CheckConstraint(
                condition=Q(status="pending", reason="") | (~Q(status="pending") & ~Q(reason="")),
                name="verification_reason_when_decided",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} to {self.recipient} ({self.status})"

    @property
    def attempts_left(self) -> int:
        return max(self.max_attempts - self.attempts, 0)

    def current(self, now: datetime | None = None) -> tuple[str, str]:
        """The status and reason as everyone should see them (the API, the console, the
        webhooks): a pending code past its expiry is expired — or, replaced by a newer
        code and past its grace period, canceled as replaced — even before the periodic
        clean-up writes so."""
        now = now or timezone.now()
        if self.status != self.Status.PENDING or now < self.expires_at:
            return self.status, self.reason
        if self.replaced_by_id is not None:
            return self.Status.CANCELED, self.Reason.REPLACED
        return self.Status.EXPIRED, self.Reason.EXPIRED

    @property
    def current_status(self) -> str:
        return self.current()[0]

    @property
    def current_reason(self) -> str:
        return self.current()[1]

    @property
    def current_status_display(self) -> str:
        return self.Status(self.current_status).label

    @property
    def current_reason_display(self) -> str:
        reason = self.current_reason
        return self.Reason(reason).label if reason else ""

    # The state changes of this row: each says whether it moved the row (False: another
    # request decided it first, or it was not pending) and, if so, updates this object.

    def approve(self, *, now: datetime) -> bool:
        if not self._this().approve(now=now):
            return False
        self.approved(now=now)
        return True

    def approved(self, *, now: datetime) -> None:
        """What :meth:`approve` changed, on this instance (for a caller that approved the
        row within a larger statement, ``VerificationQuerySet.approving``)."""
        self.status, self.reason, self.decided_at = self.Status.APPROVED, self.Reason.APPROVED, now
        self.sealed = ""

    def count_wrong_attempt(self, *, now: datetime) -> bool:
        moved = self._this().count_wrong_attempt_returning(now=now)
        if not moved:
            return False
        [(self.attempts, self.status)] = moved
        if self.status == self.Status.MAX_ATTEMPTS_REACHED:
            self.decided_at, self.reason, self.sealed = now, self.Reason.MAX_ATTEMPTS_REACHED, ""
        return True

    def count_wrong_attempt_checked(self, *, now: datetime) -> bool:
        """A wrong code counted, with its check row, in one statement, unless it would be
        the last attempt (or the row is no longer pending, or the database is not
        PostgreSQL): ``False``, and nothing changed; then :meth:`count_wrong_attempt`,
        in a transaction with what the last attempt does, is the way."""
        db = Verification.objects.db
        if connections[db].vendor != "postgresql":
            return False
        update_sql, update_params = _COUNTING_SHORT_OF_LAST(now=now, pk=self.pk)
        check = Check(verification_id=self.pk, checked_at=now, result=Check.Result.WRONG_CODE)
        check_sql, check_params = statements.insert_select(check, source="moved", using=db)
        quote = connections[db].ops.quote_name
        returning = f"{quote('attempts')}, {quote('status')}"
        moved = f"moved AS ({update_sql} RETURNING {returning})"
        statement = f"WITH {moved}, checked AS ({check_sql}) SELECT * FROM moved"  # noqa: S608
        with connections[db].cursor() as cursor:
            cursor.execute(statement, [*update_params, *check_params])
            rows = cursor.fetchall()
        if not rows:
            return False
        [(self.attempts, self.status)] = rows
        return True

    def cancel(self, *, now: datetime) -> bool:
        if not self._this().cancel(now=now):
            return False
        self.status, self.reason = self.Status.CANCELED, self.Reason.CANCELED_BY_CLIENT
        self.decided_at, self.sealed = now, ""
        return True

    def fail(self, *, now: datetime, reason: str = "undeliverable") -> bool:
        if not self._this().fail(now=now, reason=reason):
            return False
        self.status, self.reason, self.decided_at, self.sealed = self.Status.FAILED, reason, now, ""
        return True

    def expire_if_due(self, *, now: datetime) -> bool:
        if not self._this().expire_due(now=now):
            return False
        self.refresh_from_db(fields=["status", "reason", "decided_at", "sealed"])
        return True

    def _this(self) -> VerificationQuerySet:
        return Verification.objects.filter(pk=self.pk)


# A wrong attempt that is not the last one, compiled once per process.
_COUNTING_SHORT_OF_LAST = statements.Shape(
    lambda now, pk: statements.update(
        Verification.objects.filter(pk=pk)
        ._attemptable(now)
        .filter(attempts__lt=F("max_attempts") - 1),
        VerificationQuerySet._wrong_attempt(now),
    ),
    now="datetime",
    pk="uuid",
)


class Check(models.Model):
    """One verification request against a verification: the timeline's checks."""

    class Result(models.TextChoices):
        APPROVED = "approved", "Approved"
        WRONG_CODE = "wrong_code", "Wrong code"
        REFUSED = "refused", "Refused (not pending)"

    verification = models.ForeignKey(Verification, on_delete=models.CASCADE, related_name="checks")
    checked_at = models.DateTimeField()
    result = models.CharField(max_length=12, choices=Result.choices)

    class Meta:
        ordering = ["checked_at", "id"]

    def __str__(self) -> str:
        return f"{self.verification_id} at {self.checked_at}: {self.result}"


class Fallback(models.Model):
    """A fallback step that fired: the same code sent again on another channel. One row
    per (verification, step), so a step fires at most once however often the trigger
    is seen (a duplicate report, two schedulers)."""

    verification = models.ForeignKey(
        Verification, on_delete=models.CASCADE, related_name="fallbacks"
    )
    step = models.PositiveSmallIntegerField(default=1)
    trigger = models.CharField(max_length=20)
    from_channel = models.CharField(max_length=5, choices=channels.Channel.choices)
    to_channel = models.CharField(max_length=5, choices=channels.Channel.choices)
    message_id = models.UUIDField(null=True, blank=True)
    fired_at = models.DateTimeField()

    class Meta:
        ordering = ["fired_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["verification", "step"], name="unique_fallback_step"),
        ]

    def __str__(self) -> str:
        return f"{self.verification_id} step {self.step}: {self.from_channel} -> {self.to_channel}"


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


# --- Analytics rollups (written only by otp/rollups.py) ---------------------------------

# Histogram bounds (seconds) of the latencies kept in the rollups: a column per bound
# and kind counts the codes that took at most that long (and more than the previous
# bound); the last column, OVERFLOW, the rest.
LATENCY_BOUNDS = (2, 5, 10, 15, 20, 30, 45, 60, 120, 300, 600, 3600)
OVERFLOW = 86_400
LATENCY_KINDS = {"approval": "Send to approval", "delivery": "Send to delivery report"}
COUNT_FIELDS = (
    "requested",
    "sent",  # handed to a gateway (sent or later)
    "delivered",
    "undelivered",
    "message_failed",  # no gateway could send it
    "approved",
    "canceled",
    "expired",
    "max_attempts_reached",
    "failed",
)


def latency_field(kind: str, bound: int) -> str:
    return f"{kind}_le_{bound}"


LATENCY_FIELDS = tuple(
    latency_field(kind, bound) for kind in LATENCY_KINDS for bound in (*LATENCY_BOUNDS, OVERFLOW)
)


class Rollup(models.Model):
    """Verifications counted by how far they got, per stream, event, channel, country
    and the gateway of their latest message (0: none yet), with their latencies as
    histograms. A cohort: a code sent at 10:59 and entered at 11:02 counts as approved
    in the 10:00 row."""

    account = models.ForeignKey("streams.Account", on_delete=models.CASCADE, related_name="+")
    stream = models.ForeignKey("streams.Stream", on_delete=models.CASCADE, related_name="+")
    event_key = models.CharField(max_length=64)
    channel = models.CharField(max_length=5)
    country = models.CharField(max_length=3, blank=True)
    gateway_id = models.PositiveIntegerField(default=0)
    # The estimated cost of the messages handed to a gateway (their price when sent),
    # in OTP_CURRENCY.
    spend = models.DecimalField(max_digits=16, decimal_places=5, default=0)

    class Meta:
        abstract = True


for _name in (*COUNT_FIELDS, *LATENCY_FIELDS):
    Rollup.add_to_class(_name, models.PositiveIntegerField(default=0))


class VerificationRollup(Rollup):
    """Per hour of creation (UTC): what the refresh recomputes."""

    hour = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "stream", "event_key", "channel", "country", "gateway_id"],
                name="unique_verification_rollup",
            ),
        ]
        indexes = [models.Index(fields=["account", "hour"], name="rollup_account_hour")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.stream_id}/{self.event_key}: {self.requested}"


class DailyRollup(Rollup):
    """The hourly rows summed per day (UTC): what periods of whole days read, a
    twenty-fourth of the rows."""

    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "stream", "event_key", "channel", "country", "gateway_id"],
                name="unique_daily_rollup",
            ),
        ]
        indexes = [models.Index(fields=["account", "day"], name="daily_rollup_account_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.stream_id}/{self.event_key}: {self.requested}"


class RollupState(models.Model):
    """One row: when the rollups were last brought up to date (the rows changed since
    then, less a margin for transactions still open, are recomputed next)."""

    refreshed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"rollups refreshed at {self.refreshed_at}"


class SendDecision(models.Model):
    """Why the guard stopped (or, in shadow mode, would have stopped) one auth request:
    the rule, what it measured against which threshold, and what happened. Written
    outside the refused send's transaction, so it survives the refusal."""

    class Mode(models.TextChoices):
        ENFORCE = "enforce", "Enforce"
        SHADOW = "shadow", "Shadow (record only)"

    class Outcome(models.TextChoices):
        BLOCKED = "blocked", "Blocked"
        THROTTLED = "throttled", "Throttled"
        ALLOWED_IN_SHADOW = "allowed_in_shadow", "Allowed (shadow mode)"

    Channel = channels.Channel

    stream = models.ForeignKey(
        "streams.Stream", on_delete=models.CASCADE, related_name="send_decisions"
    )
    recipient = models.CharField(max_length=16)
    # The auth request's event. A database default too, so processes of the release
    # before it (a rolling deploy) can still write decisions.
    event_key = models.CharField(max_length=64, blank=True, default="", db_default="")
    channel = models.CharField(max_length=5, choices=Channel.choices, default=Channel.SMS)
    country = models.CharField(max_length=3, blank=True)  # ISO alpha-2, "001": non-geographic
    prefix = models.CharField(max_length=16, blank=True)
    end_user_ip = models.GenericIPAddressField(null=True, blank=True)
    # The rule's stable name (otp.guard.Rule), and the API error code the caller got.
    rule = models.CharField(max_length=40)
    code = models.CharField(max_length=40)
    reason = models.CharField(max_length=300)
    measured = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    mode = models.CharField(max_length=7, choices=Mode.choices, default=Mode.ENFORCE)
    outcome = models.CharField(max_length=17, choices=Outcome.choices, default=Outcome.BLOCKED)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["stream", "-created_at"], name="decision_recent")]

    def __str__(self) -> str:
        return f"{self.rule} {self.outcome}: {self.recipient}"


class BudgetCounter(models.Model):
    """What one budget (``streams.Budget``) has spent in one period (a day or a month,
    UTC): money or messages. Counted in the send's transaction by one conditional
    upsert, so concurrent sends never take it past the limit (``otp.budgets``)."""

    budget = models.ForeignKey("streams.Budget", on_delete=models.CASCADE, related_name="counters")
    period_start = models.DateField()
    spent = models.DecimalField(max_digits=16, decimal_places=5, default=0)
    # The budget's limit when last counted: the upsert compares against it.
    ceiling = models.DecimalField(max_digits=14, decimal_places=4)
    # The highest alert sent this period (0, 80 or 100 per cent): each is sent once.
    alerted_percent = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "period_start"], name="unique_budget_counter_period"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.budget_id} from {self.period_start}: {self.spent}"
