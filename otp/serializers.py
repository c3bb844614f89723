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


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()
