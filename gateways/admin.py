import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from . import prices
from .adapters import REGISTRY, Adapter
from .models import (
    Gateway,
    MessageAttempt,
    OutboundMessage,
    Price,
    RouteDecision,
    RouteHop,
    RouteRule,
)


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

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Only kinds an adapter handles can be chosen.
        self.fields["kind"].choices = [
            (value, label) for value, label in Gateway.Kind.choices if value in REGISTRY
        ]
        self.fields["settings"].help_text = "A JSON object. " + _keys_help("setting_specs")
        self.fields["delivery_guarantee"].required = False  # left out: the default
        self.fields["new_credentials"].help_text += " " + _keys_help("credential_specs")

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
            "delivery_guarantee",
        ]

    def clean_delivery_guarantee(self) -> str:
        return self.cleaned_data["delivery_guarantee"] or Gateway.DeliveryGuarantee.AT_LEAST_ONCE

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

    def clean(self) -> dict:
        # Gateway.clean (run next) checks the credentials the gateway will have.
        cleaned = super().clean()
        if cleaned.get("new_credentials") is not None:
            self.instance.credentials = cleaned["new_credentials"]
        return cleaned

    def _update_errors(self, errors: ValidationError) -> None:
        # The model names the stored field; the form shows it as the write-only one.
        if hasattr(errors, "error_dict") and "credentials" in errors.error_dict:
            errors.error_dict["new_credentials"] = errors.error_dict.pop("credentials")
        super()._update_errors(errors)

    def save(self, commit: bool = True) -> Gateway:
        if self.cleaned_data.get("new_credentials") is not None:
            self.instance.credentials = self.cleaned_data["new_credentials"]
        return super().save(commit)


def _keys_help(specs: str) -> str:
    kinds = []
    for kind, adapter in REGISTRY.items():
        keys = [
            f"{spec.name}{'*' if spec.required else ''} ({spec.type_name})"
            for spec in getattr(adapter, specs)()
        ]
        kinds.append(f"{kind}: {', '.join(keys) or 'none'}")
    return "Keys by kind (* required): " + "; ".join(kinds) + "."


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
    readonly_fields = ["delivery_report_url"]

    @admin.display(description="Delivery-report URL")
    def delivery_report_url(self, obj: Gateway) -> str:
        if obj.pk is None:
            return "Shown once the gateway is saved."
        return Adapter(obj).receipt_url()

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
        "estimated_cost",
        "encoding",
        "possibly_duplicated",
        "created_at",
    ]
    list_filter = ["status", "possibly_duplicated", "channel", "encoding", "gateway", "account"]
    search_fields = ["id", "recipient", "provider_message_id"]
    date_hierarchy = "created_at"
    list_select_related = ["account", "gateway"]
    inlines = [MessageAttemptInline]
    # The text holds the code: operators see the message's metadata, not its body.
    exclude = ["text", "masked_text"]
    readonly_fields = [
        "id",
        "account",
        "verification_id",
        "channel",
        "recipient",
        "sender",
        "encoding",
        "segments",
        "estimated_cost",
        "voice_language",
        "voice_gender",
        "status",
        "possibly_duplicated",
        "expires_at",
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


class PriceImportForm(forms.Form):
    csv_file = forms.FileField(
        label="CSV file",
        help_text="Columns country,channel,gateway,amount[,currency]; gateway empty for any "
        "gateway, else a gateway's name. All rows or none are imported.",
    )


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    """The price table: per country, channel and gateway (empty: any), per SMS segment
    or voice call. Imported as CSV from the "Import CSV" button."""

    list_display = ["country", "channel", "gateway", "amount", "currency", "updated_at"]
    list_filter = ["channel", "gateway", "currency"]
    search_fields = ["country"]
    change_list_template = "admin/gateways/price/change_list.html"

    def get_urls(self):
        view = self.admin_site.admin_view(self.import_csv)
        return [path("import/", view, name="gateways_price_import"), *super().get_urls()]

    def import_csv(self, request):
        if not self.has_add_permission(request) or not self.has_change_permission(request):
            raise PermissionDenied
        form = PriceImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["csv_file"]
            try:
                text = upload.read(2_000_000).decode("utf-8-sig")
            except UnicodeDecodeError:
                form.add_error("csv_file", "The file is not UTF-8 text.")
            else:
                report = prices.import_prices_text(text)
                if report.ok:
                    messages.success(
                        request,
                        f"Prices: {report.created} created, {report.updated} updated.",
                    )
                    return redirect("admin:gateways_price_changelist")
                for error in report.errors:
                    form.add_error("csv_file", error)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": "Import prices from CSV",
        }
        return TemplateResponse(request, "admin/gateways/price/import.html", context)


# --- Routing rules ------------------------------------------------------------------


class RouteHopInline(admin.TabularInline):
    model = RouteHop
    extra = 1
    fields = ["position", "gateway", "weight"]
    autocomplete_fields = ["gateway"]


DECISION_FIELDS = [
    "created_at",
    "action",
    "gateway",
    "country",
    "sample",
    "delivery_rate",
    "conversion_rate",
    "best_gateway",
    "best_sample",
    "best_conversion_rate",
    "threshold",
    "reason",
]


class RouteDecisionInline(admin.TabularInline):
    """What the rule's learning decided: a record, never edited."""

    model = RouteDecision
    extra = 0
    max_num = 0
    can_delete = False
    fields = readonly_fields = DECISION_FIELDS
    ordering = ["-created_at", "-id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("gateway", "best_gateway")


@admin.register(RouteRule)
class RouteRuleAdmin(admin.ModelAdmin):
    """Platform rules (no account) route every account without a rule of its own;
    account and stream rules are also edited by the account's owners and admins in the
    console."""

    list_display = [
        "__str__",
        "level",
        "account",
        "stream",
        "channel",
        "country",
        "prefix",
        "priority",
        "mode",
        "learn",
    ]
    list_filter = ["mode", "learn", "channel", ("account", admin.EmptyFieldListFilter)]
    search_fields = ["name", "country", "prefix", "account__name"]
    autocomplete_fields = ["account", "stream"]
    list_select_related = ["account", "stream"]
    inlines = [RouteHopInline, RouteDecisionInline]
    fieldsets = [
        (None, {"fields": ["name", "account", "stream", "priority"]}),
        ("Matches", {"fields": ["channel", "country", "prefix"]}),
        ("Order", {"fields": ["mode"]}),
        (
            "Learning",
            {"fields": ["learn", "learn_threshold", "learn_min_sample", "learn_probe_percent"]},
        ),
    ]


@admin.register(RouteDecision)
class RouteDecisionAdmin(admin.ModelAdmin):
    list_display = ["created_at", "rule", *DECISION_FIELDS[1:-1]]
    list_filter = ["action", "country", "gateway"]
    list_select_related = ["rule", "gateway", "best_gateway"]
    date_hierarchy = "created_at"
    readonly_fields = ["rule", *DECISION_FIELDS]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
