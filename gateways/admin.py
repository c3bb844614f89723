import json

from django import forms
from django.contrib import admin

from .models import Gateway, MessageAttempt, OutboundMessage, Route


class GatewayForm(forms.ModelForm):
    """Credentials are write-only: the field is always shown empty, and left empty it
    keeps what is stored."""

    new_credentials = forms.CharField(
        required=False,
        label="Credentials",
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text='A JSON object, e.g. {"password": "..."}. Stored credentials are never '
        "shown; leave empty to keep them.",
    )

    class Meta:
        model = Gateway
        fields = [
            "name",
            "kind",
            "enabled",
            "supports_sms",
            "supports_voice",
            "settings",
            "rate_per_second",
        ]

    def clean_new_credentials(self) -> dict | None:
        raw = self.cleaned_data["new_credentials"].strip()
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError("Enter a JSON object.") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("Enter a JSON object.")
        return value

    def save(self, commit: bool = True) -> Gateway:
        if self.cleaned_data.get("new_credentials") is not None:
            self.instance.credentials = self.cleaned_data["new_credentials"]
        return super().save(commit)


class RouteInline(admin.TabularInline):
    model = Route
    extra = 0
    autocomplete_fields = ["account"]


@admin.register(Gateway)
class GatewayAdmin(admin.ModelAdmin):
    form = GatewayForm
    list_display = [
        "name",
        "kind",
        "enabled",
        "supports_sms",
        "supports_voice",
        "rate_per_second",
        "has_credentials",
    ]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    inlines = [RouteInline]

    @admin.display(boolean=True, description="Credentials set")
    def has_credentials(self, obj: Gateway) -> bool:
        return bool(obj.credentials)


class MessageAttemptInline(admin.TabularInline):
    model = MessageAttempt
    extra = 0
    can_delete = False
    readonly_fields = [
        "created_at",
        "gateway",
        "outcome",
        "error",
        "provider_message_id",
        "duration_ms",
    ]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "account",
        "channel",
        "recipient",
        "sender",
        "status",
        "gateway",
        "attempts",
        "segments",
        "encoding",
        "created_at",
    ]
    list_filter = ["status", "channel", "encoding", "gateway", "account"]
    search_fields = ["id", "recipient", "provider_message_id"]
    date_hierarchy = "created_at"
    list_select_related = ["account", "gateway"]
    inlines = [MessageAttemptInline]
    # The text holds the code: operators see the message's metadata, not its body.
    exclude = ["text"]
    readonly_fields = [
        "id",
        "account",
        "verification",
        "channel",
        "recipient",
        "sender",
        "encoding",
        "segments",
        "voice_language",
        "voice_gender",
        "status",
        "gateway",
        "provider_message_id",
        "attempts",
        "last_error",
        "next_attempt_at",
        "created_at",
        "updated_at",
        "sent_at",
        "delivered_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False
