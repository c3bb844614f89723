"""Shapes of the OTP API's requests and answers. Parsing only: the rules live in
``otp.services``."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from streams.validators import EVENT_KEY_RE

from .api import StrictSerializer
from .models import Verification
from .services import effective_status

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


class VerificationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.SerializerMethodField(
        help_text="pending, approved, canceled, expired, max_attempts_reached, failed"
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
        return effective_status(verification)

    @extend_schema_field(MessageSerializer(allow_null=True))
    def get_message(self, verification: Verification) -> dict | None:
        message = self.context.get("message", getattr(verification, "latest_message", None))
        return MessageSerializer(message).data if message is not None else None


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


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()
