"""Tenancy and stream configuration: accounts, members, sender IDs, contacts, tags,
streams and their event templates."""

import secrets
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q, Value
from django.utils import timezone

from . import channels, locales, placeholders, policy, validators
from .crypto import EncryptedTextField
from .tokens import IssuedToken


class Account(models.Model):
    """The tenant: every other object of the console belongs to exactly one account."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def custom_field_keys(self) -> list[str]:
        return list(self.contact_fields.values_list("key", flat=True))


class Membership(models.Model):
    """A user's role in an account. Owners and admins hold the stream policy (the
    security settings, tokens, members); developers build streams (drafts, message
    content, sender IDs, contacts) and read everything; viewers only read."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        DEVELOPER = "developer", "Developer"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.DEVELOPER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "account"], name="unique_membership"),
            models.CheckConstraint(
                condition=Q(role__in=["owner", "admin", "developer", "viewer"]),
                name="membership_role_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.account} ({self.role})"

    @property
    def can_manage(self) -> bool:
        """Owners and admins: the security settings, tokens, enable/disable, members."""
        return self.role in (self.Role.OWNER, self.Role.ADMIN)

    @property
    def can_edit(self) -> bool:
        """Everyone but viewers changes something (what, depends on the role)."""
        return self.role != self.Role.VIEWER


class SenderID(models.Model):
    """What the recipient sees as the sender: an alphanumeric name (3-11 characters),
    a phone number in E.164 form, or a short code."""

    class Kind(models.TextChoices):
        ALPHANUMERIC = "alphanumeric", "Alphanumeric"
        PHONE = "phone", "Phone number"
        SHORT_CODE = "short_code", "Short code"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="sender_ids")
    value = models.CharField(max_length=16)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.ALPHANUMERIC)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "sender ID"
        ordering = ["value"]
        constraints = [
            models.UniqueConstraint(fields=["account", "value"], name="unique_sender_per_account"),
        ]

    def __str__(self) -> str:
        return self.value

    def clean(self) -> None:
        value = (self.value or "").strip()
        if self.kind == self.Kind.ALPHANUMERIC:
            if not validators.ALNUM_SENDER_RE.match(value) or value.isdigit():
                raise ValidationError(
                    {
                        "value": "An alphanumeric sender ID has 3 to 11 characters (letters, "
                        "digits, space, dot, hyphen, underscore) and at least one letter."
                    }
                )
        elif self.kind == self.Kind.PHONE:
            try:
                value = validators.normalize_phone(value)
            except ValidationError as exc:
                raise ValidationError({"value": exc.messages}) from exc
        elif not validators.SHORT_CODE_RE.match(value):
            raise ValidationError({"value": "A short code has 3 to 8 digits."})
        self.value = value


class ContactField(models.Model):
    """A custom contact field of an account; its key is usable as a placeholder."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="contact_fields")
    key = models.CharField(
        max_length=40,
        validators=[
            RegexValidator(
                placeholders.FIELD_KEY_RE,
                "Lower-case letters, digits and underscores, starting with a letter.",
            )
        ],
    )
    name = models.CharField(max_length=60)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["account", "key"], name="unique_field_per_account"),
        ]

    def __str__(self) -> str:
        return self.key

    def clean(self) -> None:
        if self.key in placeholders.BUILT_IN or self.key == "locale":
            raise ValidationError({"key": f"{self.key!r} is a built-in placeholder."})


class Contact(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="contacts")
    phone = models.CharField(max_length=16, validators=[validators.validate_e164])
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    locale = models.CharField(
        max_length=35,
        blank=True,
        db_default="",
        validators=[validators.validate_locale],
        help_text="The language of this contact's messages (BCP 47, e.g. fr-CA).",
    )
    custom_fields = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["last_name", "first_name", "phone"]
        constraints = [
            models.UniqueConstraint(fields=["account", "phone"], name="unique_contact_phone"),
        ]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{name} ({self.phone})" if name else self.phone

    def clean(self) -> None:
        if not isinstance(self.custom_fields, dict) or not all(
            isinstance(k, str) and isinstance(v, str | int | float)
            for k, v in self.custom_fields.items()
        ):
            raise ValidationError({"custom_fields": "Custom fields map field keys to values."})
        if self.account_id:
            unknown = set(self.custom_fields) - set(self.account.custom_field_keys())
            if unknown:
                raise ValidationError(
                    {"custom_fields": f"Unknown field(s): {', '.join(sorted(unknown))}."}
                )

    def placeholder_values(self) -> dict[str, str]:
        values = {k: str(v) for k, v in self.custom_fields.items()}
        values.update(first_name=self.first_name, last_name=self.last_name)
        return values


class Tag(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=40)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="unique_tag_per_account"),
        ]

    def __str__(self) -> str:
        return self.name


class Stream(models.Model):
    """An OTP stream: who may call it, how codes are made and limited, and (through its
    event templates) what the messages say."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        DISABLED = "disabled", "Disabled"

    class CodeGenerator(models.TextChoices):
        PLATFORM = "platform", "The platform generates the code"
        CLIENT = "client", "I will generate and send the code myself"

    class ResendPolicy(models.TextChoices):
        SAME_CODE = "same_code", "Send the same code again"
        NEW_CODE = "new_code", "Send a new code (the previous one stays valid for a grace period)"

    class FallbackTrigger(models.TextChoices):
        UNDELIVERED = "undelivered", "The delivery report says undelivered or failed"
        NO_DELIVERY_REPORT = "no_delivery_report", "No delivered report within N seconds"
        NO_CHECK = "no_check", "No successful check within N seconds"

    class GuardMode(models.TextChoices):
        ENFORCE = "enforce", "Enforce: refuse what the guard finds"
        SHADOW = "shadow", "Shadow: record what the guard finds, refuse nothing"

    class WizardStep(models.IntegerChoices):
        DETAILS = 1, "Details"
        CODE = 2, "Code handling"
        CONTENT = 3, "Message content"
        SUMMARY = 4, "Summary"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="streams")
    name = models.CharField(max_length=100)
    description = models.TextField(max_length=500, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    # Where a draft stopped: the wizard reopens it there.
    wizard_step = models.PositiveSmallIntegerField(
        choices=WizardStep.choices, default=WizardStep.DETAILS
    )

    allowed_ips = models.JSONField(
        default=list,
        blank=True,
        validators=[validators.validate_ip_list],
        help_text="Addresses and CIDR ranges allowed to call the API. Empty: none.",
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="streams")
    default_sender = models.ForeignKey(
        SenderID,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="streams",
        help_text="Empty means Customized: each request picks one of the account's sender IDs.",
    )

    code_generator = models.CharField(
        max_length=10, choices=CodeGenerator.choices, default=CodeGenerator.PLATFORM
    )
    code_length = models.PositiveSmallIntegerField(
        default=6, validators=policy.CODE_LENGTH.validators()
    )
    code_digits = models.BooleanField(default=True)
    code_upper = models.BooleanField(default=False)
    code_lower = models.BooleanField(default=False)
    code_special = models.BooleanField(default=False)
    code_ttl_seconds = models.PositiveIntegerField(
        default=300, validators=policy.CODE_TTL_SECONDS.validators()
    )
    max_attempts = models.PositiveSmallIntegerField(
        default=5,
        validators=policy.MAX_ATTEMPTS.validators(),
        help_text="Wrong codes allowed before the verification is locked.",
    )
    send_limit_enabled = models.BooleanField(default=False)
    send_limit_count = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    send_limit_cooldown_minutes = models.PositiveIntegerField(
        default=15, validators=[MinValueValidator(1), MaxValueValidator(10080)]
    )
    allowed_countries = models.JSONField(
        default=list,
        blank=True,
        validators=[validators.validate_country_list],
        help_text="ISO country codes messages may go to. Empty: every country.",
    )
    # The new settings have database defaults too: code deployed before them (and
    # migrations' historical models) can still insert streams while they are added.
    weak_codes_accepted = models.BooleanField(
        default=False,
        db_default=False,
        help_text="An admin accepted platform codes easier to guess than six digits.",
    )
    guard_mode = models.CharField(
        max_length=7,
        choices=GuardMode.choices,
        default=GuardMode.ENFORCE,
        db_default=GuardMode.ENFORCE,
        help_text="The velocity and conversion guard (otp/velocity.py).",
    )
    guard_safe_list = models.JSONField(
        default=list,
        db_default=Value([], output_field=models.JSONField()),
        blank=True,
        validators=[validators.validate_safe_list],
        help_text="Numbers and prefixes (E.164) the guard never blocks.",
    )
    caller_text_allowed = models.BooleanField(
        default=False,
        db_default=False,
        help_text="Callers of the compatibility APIs may send their own message text "
        "(it must still contain the code).",
    )
    blocked_countries = models.JSONField(
        default=list,
        db_default=[],  # rows written by code that predates the field (a rolling deploy)
        blank=True,
        validators=[validators.validate_country_list],
        help_text="ISO country codes messages never go to, even when allowed above.",
    )
    blocked_prefixes = models.JSONField(
        default=list,
        db_default=[],  # rows written by code that predates the field (a rolling deploy)
        blank=True,
        validators=[validators.validate_prefix_list],
        help_text="Number prefixes messages never go to, in international form (+4490).",
    )
    # Kinds of number refused by default (premium rate, satellite, ...) this stream takes.
    allowed_number_types = models.JSONField(
        default=list,
        db_default=[],  # rows written by code that predates the field (a rolling deploy)
        blank=True,
        validators=[validators.validate_number_kind_list],
        help_text="Number types refused by default that this stream may send to.",
    )
    # What a new send for the same recipient and event does while a code is pending.
    resend_policy = models.CharField(
        max_length=10,
        choices=ResendPolicy.choices,
        default=ResendPolicy.NEW_CODE,
        db_default=ResendPolicy.NEW_CODE,
    )
    resend_grace_seconds = models.PositiveSmallIntegerField(
        default=0,
        db_default=0,
        validators=policy.RESEND_GRACE_SECONDS.validators(),
        help_text="New code: how long the previous code still works after a newer send.",
    )
    # One fallback step: the same code again on another channel, when the trigger fires.
    fallback_channel = models.CharField(
        max_length=5, choices=channels.Channel.choices, blank=True, default="", db_default=""
    )
    fallback_trigger = models.CharField(
        max_length=20,
        choices=FallbackTrigger.choices,
        default=FallbackTrigger.UNDELIVERED,
        db_default=FallbackTrigger.UNDELIVERED,
    )
    fallback_after_seconds = models.PositiveIntegerField(
        default=30,
        db_default=30,
        validators=policy.FALLBACK_AFTER_SECONDS.validators(),
        help_text="For the timed triggers: seconds after the send.",
    )

    # Whether any enabled webhook endpoint listens: the API's hot paths write event rows
    # only then, without a query to find out (kept by streams.services).
    webhooks_enabled = models.BooleanField(default=False, db_default=False, editable=False)

    # --- Message content (wizard step 3)
    brand = models.CharField(
        max_length=40,
        blank=True,
        db_default="",
        help_text="The name {{brand}} stands for. Empty: the account's name.",
    )
    default_locale = models.CharField(
        max_length=35,
        default="en",
        db_default="en",
        validators=[validators.validate_locale],
        help_text="The language of the templates' default texts. " + locales.LOCALE_HELP,
    )
    smart_encoding = models.BooleanField(
        default=True,
        db_default=True,
        help_text="Replace look-alike characters (curly quotes, long dashes, ...) with their "
        "GSM-7 equivalents so that a message is not sent as Unicode for them.",
    )
    do_not_share = models.BooleanField(
        default=False,
        db_default=False,
        help_text="Add a line saying not to share the code, in the message's language.",
    )
    webotp_domain = models.CharField(
        max_length=253,
        blank=True,
        db_default="",
        validators=[validators.validate_webotp_domain],
        help_text="WebOTP: end each SMS with '@domain #code' so browsers can autofill it.",
    )
    retriever_enabled = models.BooleanField(
        default=False,
        db_default=False,
        help_text="Android SMS Retriever: add the app hash to each SMS.",
    )
    retriever_prefix = models.BooleanField(
        default=False,
        db_default=False,
        help_text="Start the SMS with '<#> ' (older Android versions).",
    )
    retriever_app_hash = models.CharField(
        max_length=11,
        blank=True,
        db_default="",
        validators=[validators.validate_app_hash],
        help_text="The 11-character hash of your Android app.",
    )
    voice_repeat = models.PositiveSmallIntegerField(
        default=2,
        db_default=2,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text="How many times a call reads the code.",
    )
    voice_rate = models.CharField(
        max_length=8,
        choices=[("x-slow", "Very slow"), ("slow", "Slow"), ("medium", "Normal"), ("fast", "Fast")],
        default="slow",
        db_default="slow",
        help_text="How fast a call reads the code.",
    )

    token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    token_prefix = models.CharField(max_length=16, blank=True, editable=False)
    token_issued_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Test mode: a second token that reaches only the test numbers, each with its fixed
    # code and scripted outcome ({"number", "code", "outcome"}); nothing reaches a gateway.
    test_token_hash = models.CharField(
        max_length=64, unique=True, null=True, blank=True, editable=False
    )
    test_token_prefix = models.CharField(max_length=16, blank=True, db_default="", editable=False)
    test_numbers = models.JSONField(
        default=list, db_default=[], blank=True, validators=[validators.validate_test_numbers]
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "status", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    code_length__gte=policy.CODE_LENGTH.minimum,
                    code_length__lte=policy.CODE_LENGTH.maximum,
                ),
                name="stream_code_length",
            ),
            models.CheckConstraint(
                condition=Q(code_digits=True)
                | Q(code_upper=True)
                | Q(code_lower=True)
                | Q(code_special=True),
                name="stream_alphabet_not_empty",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "active", "disabled"]), name="stream_status"
            ),
            models.CheckConstraint(
                condition=Q(
                    resend_grace_seconds__gte=policy.RESEND_GRACE_SECONDS.minimum,
                    resend_grace_seconds__lte=policy.RESEND_GRACE_SECONDS.maximum,
                ),
                name="stream_resend_grace",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    # What only owners and admins may change (streams.services checks every write).
    SECURITY_SETTINGS = (
        "allowed_ips",
        "code_generator",
        "code_length",
        "code_digits",
        "code_upper",
        "code_lower",
        "code_special",
        "code_ttl_seconds",
        "max_attempts",
        "send_limit_enabled",
        "send_limit_count",
        "send_limit_cooldown_minutes",
        "allowed_countries",
        "blocked_countries",
        "blocked_prefixes",
        "allowed_number_types",
        "weak_codes_accepted",
        "caller_text_allowed",
        "guard_mode",
        "guard_safe_list",
    )

    def clean(self) -> None:
        if not (self.code_digits or self.code_upper or self.code_lower or self.code_special):
            raise ValidationError({"code_digits": "Choose at least one kind of character."})
        if self.platform_generates_code and self.has_weak_codes and not self.weak_codes_accepted:
            raise ValidationError(
                {
                    "code_length": f"{self.code_length} characters of this alphabet are easier "
                    "to guess than 6 digits (under 20 bits): make the code longer or richer, "
                    "or accept weak codes explicitly."
                }
            )
        if (
            self.default_sender_id
            and self.account_id
            and self.default_sender.account_id != self.account_id
        ):
            raise ValidationError({"default_sender": "Unknown sender ID."})

        if self.retriever_enabled and not self.retriever_app_hash:
            raise ValidationError(
                {"retriever_app_hash": "SMS Retriever needs your app's 11-character hash."}
            )

    @property
    def brand_name(self) -> str:
        """What ``{{brand}}`` stands for: the stream's display name, else the account's."""
        return self.brand or self.account.name

    @property
    def is_customized_sender(self) -> bool:
        return self.default_sender_id is None

    @property
    def reached_step(self) -> int:
        """The last wizard step open to the user: a draft resumes where it stopped,
        a created stream has every step behind it."""
        return self.wizard_step if self.status == self.Status.DRAFT else self.WizardStep.SUMMARY

    @property
    def platform_generates_code(self) -> bool:
        return self.code_generator == self.CodeGenerator.PLATFORM

    def test_number(self, number: str) -> dict | None:
        """The test number's entry ({"number", "code", "outcome"}), if it is one."""
        return next((n for n in self.test_numbers if n.get("number") == number), None)

    @property
    def code_alphabet_size(self) -> int:
        digits, upper, lower, special = (
            self.code_digits,
            self.code_upper,
            self.code_lower,
            self.code_special,
        )
        if not (digits or upper or lower or special):
            return 0
        return len(policy.alphabet(digits=digits, upper=upper, lower=lower, special=special))

    @property
    def code_space(self) -> int:
        """How many codes the stream's policy can make: a request may not ask for fewer."""
        return self.code_alphabet_size ** (self.code_length or 0)

    @property
    def has_weak_codes(self) -> bool:
        return policy.is_weak_code(self.code_length or 0, self.code_alphabet_size)

    @property
    def code_entropy_bits(self) -> float:
        return policy.code_entropy_bits(self.code_length or 0, self.code_alphabet_size)

    def set_token(self, token: IssuedToken) -> None:
        self.token_hash = token.hash
        self.token_prefix = token.prefix
        self.token_issued_at = timezone.now()


class Budget(models.Model):
    """A cap on what an account, or one of its streams, may spend per day or per month:
    in money (the price table's estimate) or in messages (SMS segments and voice calls).
    A send that would go beyond it is refused; see ``otp.budgets``."""

    class Period(models.TextChoices):
        DAY = "day", "Daily"
        MONTH = "month", "Monthly"

    class Unit(models.TextChoices):
        MONEY = "money", "Money"
        MESSAGES = "messages", "Messages"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="budgets")
    # Empty: the whole account's budget.
    stream = models.ForeignKey(
        Stream, null=True, blank=True, on_delete=models.CASCADE, related_name="budgets"
    )
    period = models.CharField(max_length=5, choices=Period.choices)
    unit = models.CharField(max_length=8, choices=Unit.choices)
    limit = models.DecimalField(
        max_digits=14,
        decimal_places=4,
        validators=[MinValueValidator(0)],
        help_text="In the platform's currency (OTP_CURRENCY), or a number of messages.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account", "stream", "unit", "period"]
        indexes = [models.Index(fields=["account", "stream"], name="budget_scope")]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "period", "unit"],
                condition=Q(stream__isnull=True),
                name="unique_account_budget",
            ),
            models.UniqueConstraint(
                fields=["stream", "period", "unit"],
                condition=Q(stream__isnull=False),
                name="unique_stream_budget",
            ),
            models.CheckConstraint(condition=Q(limit__gte=0), name="budget_limit_not_negative"),
            models.CheckConstraint(condition=Q(period__in=["day", "month"]), name="budget_period"),
            models.CheckConstraint(condition=Q(unit__in=["money", "messages"]), name="budget_unit"),
        ]

    def __str__(self) -> str:
        return f"{self.scope_label} {self.get_period_display().lower()} {self.describe_limit()}"

    @property
    def scope_label(self) -> str:
        return f"stream {self.stream}" if self.stream_id else f"account {self.account}"

    def describe_limit(self) -> str:
        if self.unit == self.Unit.MONEY:
            return f"{self.limit:.2f} {settings.OTP_CURRENCY}"
        return f"{self.limit:.0f} messages"

    def clean(self) -> None:
        if self.stream_id and self.account_id and self.stream.account_id != self.account_id:
            raise ValidationError({"stream": "A stream of another account."})
        if self.unit == self.Unit.MESSAGES and self.limit is not None and self.limit % 1:
            raise ValidationError({"limit": "A number of messages is a whole number."})


class EventTemplate(models.Model):
    """The text sent for one event of a stream (log-in, password reset, ...)."""

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(max_length=100)
    key = models.CharField(
        max_length=64,
        validators=[validators.validate_event_key],
        help_text=validators.EVENT_KEY_HELP,
    )
    text = models.TextField(max_length=1600, help_text="The default text.")
    # Texts in other languages, by BCP 47 tag: {"fr": "...", "fr-CA": "..."}.
    variants = models.JSONField(default=dict, blank=True)
    webotp_domain = models.CharField(
        max_length=253,
        blank=True,
        db_default="",
        validators=[validators.validate_webotp_domain],
        help_text="WebOTP domain for this event; empty: the stream's.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "key"], name="unique_event_key_per_stream"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"

    def clean(self) -> None:
        known = self.stream.account.custom_field_keys() if self.stream_id else []
        errors: dict[str, list[str]] = {}
        text_errors = placeholders.template_text_errors(self.text or "", known)
        if text_errors:
            errors["text"] = text_errors
        if not isinstance(self.variants, dict):
            errors["variants"] = ["Variants map language tags to texts."]
        else:
            for tag, text in self.variants.items():
                if not isinstance(tag, str) or locales.normalize_locale_or_none(tag) != tag:
                    errors.setdefault("variants", []).append(f"{tag!r}: {locales.LOCALE_HELP}")
                elif not isinstance(text, str) or len(text) > 1600:
                    errors.setdefault("variants", []).append(f"{tag}: a text of 1600 characters.")
                else:
                    for problem in placeholders.template_text_errors(text, known):
                        errors.setdefault("variants", []).append(f"{tag}: {problem}")
        if errors:
            raise ValidationError(errors)

    def text_for(self, locale: str) -> tuple[str, str | None]:
        """The text for ``locale`` through the fallback chain, and the variant's tag
        (``None``: the default text)."""
        tag = locales.resolve_variant(self.variants or {}, locale) if locale else None
        return (self.variants[tag], tag) if tag else (self.text, None)


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class WebhookEndpoint(models.Model):
    """Where a stream's events are POSTed, signed with the endpoint's secret."""

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    # Signs every delivery (HMAC-SHA256); shown to the account, encrypted at rest.
    secret = EncryptedTextField(default=new_webhook_secret, editable=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.url


class WebhookEvent(models.Model):
    """The outbox: one row per event, written in the transaction of the state change it
    reports (otp's), so no event is lost when the broker is down (a beat sweep sends
    it). ``verification_id`` is a plain reference: otp sits above."""

    class Type(models.TextChoices):
        PENDING = "verification.pending"
        DELIVERED = "verification.delivered"
        APPROVED = "verification.approved"
        FAILED = "verification.failed"
        EXPIRED = "verification.expired"
        CANCELED = "verification.canceled"
        BLOCKED = "verification.blocked"
        FALLBACK = "verification.fallback"
        BUDGET_ALERT = "budget.alert"
        TEST = "test"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="webhook_events")
    type = models.CharField(max_length=30, choices=Type.choices)
    verification_id = models.UUIDField(null=True, blank=True)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["created_at"], name="webhook_event_created")]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class WebhookDelivery(models.Model):
    """One event to one endpoint. Deliveries of one chain (an endpoint and a
    verification) go out one at a time in the order they were written."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"  # retried for the whole retry period, then given up

    id = models.BigAutoField(primary_key=True)  # the order within a chain
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    chain = models.CharField(max_length=64)  # the verification id, or the event's own
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["endpoint", "chain", "status", "id"], name="webhook_chain"),
            models.Index(fields=["status", "next_attempt_at"], name="webhook_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} to {self.endpoint_id}: {self.status}"


class StreamChange(models.Model):
    """One changed setting of a stream: who, when, before and after. Written by
    ``streams.services`` in the transaction of the change itself."""

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="changes")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="stream_changes",
    )
    # Kept as text too: the trail outlives a deleted user. Empty: the platform itself.
    changed_by_name = models.CharField(max_length=150, blank=True)
    changed_at = models.DateTimeField(default=timezone.now, db_index=True)
    field = models.CharField(max_length=64)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["stream", "-changed_at"])]

    def __str__(self) -> str:
        return f"{self.stream}: {self.field} by {self.changed_by_name or 'the platform'}"


class ContactImport(models.Model):
    """A CSV file too large to import within the request: kept here (not on a disk,
    so a worker on another machine can read it) until a worker has imported it, with
    the progress and the report the console shows."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Importing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="imports")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    data = models.BinaryField(editable=False)
    country = models.CharField(max_length=2, blank=True)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    # The first rejected rows as [row, value, why], and the columns that were ignored.
    rejected = models.JSONField(default=list, blank=True)
    ignored_columns = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import {self.pk} of {self.account} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 0

    def finish(self, report) -> None:
        """Record the report and drop the file: its job is done."""
        self.status = self.Status.DONE
        self.processed_rows = self.total_rows
        self.created, self.updated = report.created, report.updated
        self.rejected_count = report.rejected_count
        self.rejected = [list(r) for r in report.rejected]
        self.ignored_columns = report.ignored_columns
        self.data = b""
        self.finished_at = timezone.now()
        self.save()

    def finish_failed(self, error: str) -> None:
        self.status, self.error, self.data = self.Status.FAILED, error, b""
        self.finished_at = timezone.now()
        self.save()
