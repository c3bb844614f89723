"""Shapes of the OTP API's requests and answers. Parsing only: the rules live in
``otp.services``."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from streams.validators import EVENT_KEY_RE

from .api import StrictSerializer
from .models import Verification

VOICE_LANGUAGE_RE = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"


class SendRequestSerializer(StrictSerializer):
    recipient = serializers.CharField(
        max_length=32,
        help_text="Phone number in E.164 form (+14155552671), or national form with `country`.",
    )
    country = serializers.RegexField(
        r"^[A-Za-z]{2}$",
        required=False,
        allow_blank=True,
        help_text="ISO 3166 alpha-2 code used to read a national `recipient`.",
    )
    event = serializers.RegexField(
        EVENT_KEY_RE.pattern, max_length=64, help_text="Key of an enabled event template."
    )
    channel = serializers.ChoiceField(
        choices=Verification.Channel.choices, default=Verification.Channel.SMS
    )
    sender = serializers.CharField(
        max_length=16,
        required=False,
        allow_blank=True,
        help_text="One of the account's sender IDs; only for streams whose sender is Customized.",
    )
    code = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        trim_whitespace=True,
        help_text="The code, only for streams where the client generates codes.",
    )
    variables = serializers.DictField(
        child=serializers.CharField(max_length=200, allow_blank=False),
        required=False,
        help_text="Values for the template's placeholders; override the contact's fields.",
    )
    locale = serializers.CharField(
        max_length=35,
        required=False,
        allow_blank=True,
        help_text="BCP 47 language of the message (fr-CA); the template's variant is chosen "
        "through fr-CA → fr → default. Default: the contact's locale, else the recipient's "
        "country's, else the stream's.",
    )
    voice_language = serializers.RegexField(
        VOICE_LANGUAGE_RE,
        max_length=35,
        required=False,
        allow_blank=True,
        help_text="Voice channel only: BCP 47 language of the call, e.g. en-US. "
        "Default: the message's locale.",
    )
    voice_gender = serializers.ChoiceField(
        choices=["female", "male"], required=False, help_text="Voice channel only."
    )
    end_user_ip = serializers.IPAddressField(
        required=False, allow_null=True, help_text="The address of the end user, for audit."
    )
    idempotency_key = serializers.CharField(
        max_length=128,
        required=False,
        allow_blank=True,
        help_text="Retrying with the same key answers with the first send instead of sending "
        "again. The `Idempotency-Key` header works too.",
    )

    def validate_variables(self, value: dict) -> dict:
        if len(value) > 20:
            raise serializers.ValidationError("At most 20 variables.")
        return value


class ResendRequestSerializer(StrictSerializer):
    channel = serializers.ChoiceField(
        choices=Verification.Channel.choices,
        required=False,
        help_text="Send on this channel instead (sms or voice); default: the verification's.",
    )


class VerifyRequestSerializer(StrictSerializer):
    id = serializers.UUIDField(required=False, help_text="The verification's id.")
    recipient = serializers.CharField(
        max_length=32, required=False, help_text="With `event`, instead of `id`."
    )
    country = serializers.RegexField(r"^[A-Za-z]{2}$", required=False, allow_blank=True)
    event = serializers.RegexField(EVENT_KEY_RE.pattern, max_length=64, required=False)
    code = serializers.CharField(max_length=64, trim_whitespace=True)

    def validate(self, attrs: dict) -> dict:
        if "id" in attrs:
            if "recipient" in attrs or "event" in attrs:
                raise serializers.ValidationError(
                    {"id": ["Give either `id`, or `recipient` and `event`, not both."]}
                )
        elif "recipient" not in attrs or "event" not in attrs:
            raise serializers.ValidationError(
                {"id": ["Give the verification's `id`, or `recipient` and `event`."]}
            )
        return attrs


class MessageSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField(
        help_text="queued, sending, sent, delivered, undelivered, failed, canceled (its code "
        "stopped counting before it was sent)"
    )
    encoding = serializers.CharField(help_text="gsm7 or ucs2")
    segments = serializers.IntegerField()
    sent_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(source="last_error", allow_blank=True)


class SendEntrySerializer(serializers.Serializer):
    message_id = serializers.UUIDField(source="id")
    channel = serializers.CharField(help_text="sms or voice")
    gateway = serializers.CharField(source="gateway.name", default=None, allow_null=True)
    status = serializers.CharField(
        help_text="Delivery status: queued, sending, sent, delivered, undelivered, failed"
    )
    queued_at = serializers.DateTimeField(source="created_at")
    sent_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField(help_text="When the status last changed.")
    error = serializers.CharField(source="last_error", allow_blank=True)


class CheckEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField(source="checked_at")
    result = serializers.CharField(help_text="approved, wrong_code or refused (not pending)")


class FallbackEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField(source="fired_at")
    step = serializers.IntegerField()
    trigger = serializers.CharField(help_text="undelivered, no_delivery_report or no_check")
    from_channel = serializers.CharField()
    to_channel = serializers.CharField()
    message_id = serializers.UUIDField(allow_null=True)


class TimelineSerializer(serializers.Serializer):
    sends = SendEntrySerializer(many=True)
    checks = CheckEntrySerializer(many=True)
    fallbacks = FallbackEntrySerializer(many=True)


class VerificationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.SerializerMethodField(
        help_text="pending, approved, canceled, expired, max_attempts_reached, failed"
    )
    reason = serializers.SerializerMethodField(
        help_text="Why it is no longer pending (empty while pending): approved, expired, "
        "max_attempts_reached, canceled_by_client, replaced, undeliverable, blocked"
    )
    test = serializers.BooleanField(
        source="is_test", help_text="Sent in test mode: no gateway was used."
    )
    replaced_by = serializers.UUIDField(
        source="replaced_by_id",
        allow_null=True,
        help_text="The newer verification that replaced this one (reason `replaced`).",
    )
    channel = serializers.CharField()
    recipient = serializers.CharField()
    event = serializers.CharField(source="event_key")
    locale_used = serializers.CharField(
        source="locale", help_text="The language of the message: the variant used."
    )
    attempts_left = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    message = serializers.SerializerMethodField()

    @extend_schema_field(serializers.CharField())
    def get_status(self, verification: Verification) -> str:
        return verification.current_status

    @extend_schema_field(serializers.CharField())
    def get_reason(self, verification: Verification) -> str:
        return verification.current_reason

    @extend_schema_field(MessageSerializer(allow_null=True))
    def get_message(self, verification: Verification) -> dict | None:
        message = self.context.get("message", getattr(verification, "latest_message", None))
        return MessageSerializer(message).data if message is not None else None


class VerificationDetailSerializer(VerificationSerializer):
    """The verification resource: its status and reason, and everything that happened
    to it, for as long as it is retained."""

    timeline = TimelineSerializer()


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable: see the error table.")
    message = serializers.CharField(help_text="For humans; may change.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="The offending fields and what is wrong with each.",
    )
    attempts_left = serializers.IntegerField(required=False)
    status = serializers.CharField(required=False)
    retry_after = serializers.IntegerField(required=False)
    rule = serializers.CharField(
        required=False, help_text="The guard's rule that refused the send (see the docs)."
    )
    reason = serializers.CharField(required=False, help_text="`send_blocked`: why, for humans.")
    budget = serializers.DictField(
        required=False, help_text="`budget_exhausted`: the budget's scope, period and unit."
    )
    number_type = serializers.CharField(
        required=False,
        help_text="`destination_not_allowed`, rule `number_type`: premium_rate, "
        "international_network, ...",
    )
    country = serializers.CharField(
        required=False, help_text="A country rule's country (ISO 3166-1 alpha-2)."
    )
    prefix = serializers.CharField(
        required=False, help_text="`destination_not_allowed`, rule `prefix_blocked`."
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


class AnalyticsQuerySerializer(StrictSerializer):
    """The analytics endpoint's query: a period and optional filters."""

    period = serializers.ChoiceField(
        choices=["today", "7d", "30d", "custom"],
        default="7d",
        help_text="today, 7d and 30d end with the current hour; custom needs `from` and `to`.",
    )
    event = serializers.RegexField(EVENT_KEY_RE.pattern, max_length=64, required=False)
    channel = serializers.ChoiceField(choices=Verification.Channel.choices, required=False)
    country = serializers.RegexField(r"^[A-Z]{2}$|^001$", required=False)
    gateway = serializers.IntegerField(min_value=0, required=False)

    def get_fields(self):
        fields = super().get_fields()
        # "from" is a Python keyword: declared here under its query name.
        fields["from"] = serializers.DateField(required=False, help_text="First day (UTC).")
        fields["to"] = serializers.DateField(required=False, help_text="Last day (UTC).")
        return fields

    def validate(self, data):
        if data["period"] == "custom":
            first, last = data.get("from"), data.get("to")
            if not first or not last:
                raise serializers.ValidationError({"from": "A custom period needs from and to."})
            if first > last:
                raise serializers.ValidationError({"to": "Must not be before from."})
            if (last - first).days > 366:
                raise serializers.ValidationError({"to": "At most 366 days."})
        return data


class _Counts(serializers.Serializer):
    requested = serializers.IntegerField()
    sent = serializers.IntegerField()
    delivered = serializers.IntegerField()
    approved = serializers.IntegerField()
    undelivered = serializers.IntegerField()
    message_failed = serializers.IntegerField()
    canceled = serializers.IntegerField()
    expired = serializers.IntegerField()
    max_attempts_reached = serializers.IntegerField()
    failed = serializers.IntegerField()
    sent_rate = serializers.FloatField(allow_null=True, help_text="% of requested")
    delivered_rate = serializers.FloatField(allow_null=True, help_text="% of sent")
    approved_rate = serializers.FloatField(allow_null=True, help_text="% of requested")
    approved_of_delivered_rate = serializers.FloatField(allow_null=True)


class _CountryCounts(_Counts):
    country = serializers.CharField(help_text="ISO 3166 alpha-2, or `unknown`")


class _GatewayCounts(_Counts):
    gateway_id = serializers.IntegerField(allow_null=True)
    gateway = serializers.CharField()


class _Point(serializers.Serializer):
    start = serializers.DateTimeField()
    requested = serializers.IntegerField()
    sent = serializers.IntegerField()
    delivered = serializers.IntegerField()
    approved = serializers.IntegerField()


class _Latency(serializers.Serializer):
    label = serializers.CharField()
    count = serializers.IntegerField()
    median_seconds = serializers.IntegerField(allow_null=True)
    p90_seconds = serializers.IntegerField(allow_null=True)
    beyond_last_bound = serializers.BooleanField()


class _Reason(serializers.Serializer):
    reason = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()


class _Refusal(serializers.Serializer):
    code = serializers.CharField(help_text="The API error code the caller got")
    rule = serializers.CharField(help_text="The guard rule that decided")
    label = serializers.CharField()
    outcome = serializers.ChoiceField(choices=["blocked", "throttled", "allowed_in_shadow"])
    shadow = serializers.BooleanField(help_text="Shadow mode: recorded, the send went ahead")
    count = serializers.IntegerField()


class AnalyticsSerializer(serializers.Serializer):
    """The stream's numbers for the period, from the hourly rollups. Latencies are
    histogram bounds: the median is "at most this many seconds"."""

    period = serializers.DictField()
    granularity = serializers.ChoiceField(choices=["hour", "day"])
    totals = _Counts()
    series = _Point(many=True)
    by_country = _CountryCounts(many=True)
    by_gateway = _GatewayCounts(many=True)
    latency = serializers.DictField(child=_Latency())
    reasons = _Reason(many=True)
    refusals = _Refusal(
        many=True, help_text="The fraud and cost guard's decisions, per code, rule and outcome"
    )
    refusals_note = serializers.CharField(
        allow_null=True, help_text="Why no refusal is counted under these filters"
    )
    estimated_spend = serializers.FloatField(
        allow_null=True, help_text="The messages' estimated cost; null when no price applied."
    )
    currency = serializers.CharField(help_text="ISO 4217, the OTP_CURRENCY setting")
