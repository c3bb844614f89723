from django.contrib import admin

from .models import (
    Account,
    Budget,
    Contact,
    ContactField,
    EventTemplate,
    Membership,
    SenderID,
    Stream,
    StreamChange,
    Tag,
)
from .services import record_stream_changes


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class ContactFieldInline(admin.TabularInline):
    model = ContactField
    extra = 0


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline, ContactFieldInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "account", "role", "created_at"]
    list_filter = ["role", "account"]
    search_fields = ["user__username", "user__email", "account__name"]
    autocomplete_fields = ["user", "account"]


@admin.register(SenderID)
class SenderIDAdmin(admin.ModelAdmin):
    list_display = ["value", "kind", "account", "created_at"]
    list_filter = ["kind", "account"]
    search_fields = ["value", "account__name"]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["phone", "first_name", "last_name", "account", "updated_at"]
    list_filter = ["account"]
    search_fields = ["phone", "first_name", "last_name"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "account"]
    list_filter = ["account"]
    search_fields = ["name"]


class EventTemplateInline(admin.StackedInline):
    model = EventTemplate
    extra = 0
    fields = ["name", "key", "text", "variants", "webotp_domain", "enabled"]


class StreamChangeInline(admin.TabularInline):
    """The audit trail: read only, newest first."""

    model = StreamChange
    extra = 0
    fields = ["changed_at", "changed_by_name", "field", "before", "after"]
    readonly_fields = fields
    can_delete = False
    ordering = ["-changed_at", "-id"]
    max_num = 0

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(StreamChange)
class StreamChangeAdmin(admin.ModelAdmin):
    list_display = ["changed_at", "stream", "changed_by_name", "field", "before", "after"]
    list_filter = ["field", "stream__account"]
    search_fields = ["stream__name", "changed_by_name", "field"]
    date_hierarchy = "changed_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Stream)
class StreamAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "account",
        "status",
        "code_generator",
        "code_length",
        "default_sender",
        "token_prefix",
        "created_at",
    ]
    list_filter = ["status", "code_generator", "send_limit_enabled", "account"]
    search_fields = ["name", "description", "token_prefix", "public_id"]
    filter_horizontal = ["tags"]
    # The token itself is never stored; its hash is not shown either.
    readonly_fields = ["public_id", "token_prefix", "token_issued_at", "created_at", "updated_at"]
    exclude = ["token_hash"]
    inlines = [EventTemplateInline, StreamChangeInline]
    fieldsets = [
        (None, {"fields": ["account", "name", "description", "status", "wizard_step", "tags"]}),
        ("Callers", {"fields": ["allowed_ips", "default_sender"]}),
        (
            "Code handling",
            {
                "fields": [
                    "code_generator",
                    "code_length",
                    ("code_digits", "code_upper", "code_lower", "code_special"),
                    "code_ttl_seconds",
                    "max_attempts",
                    ("send_limit_enabled", "send_limit_count", "send_limit_cooldown_minutes"),
                ]
            },
        ),
        (
            "Destinations",
            {
                "fields": [
                    "allowed_countries",
                    "blocked_countries",
                    "blocked_prefixes",
                    "allowed_number_types",
                    "weak_codes_accepted",
                    "caller_text_allowed",
                ]
            },
        ),
        (
            "Messages",
            {
                "fields": [
                    ("brand", "default_locale"),
                    ("smart_encoding", "do_not_share"),
                    "webotp_domain",
                    ("retriever_enabled", "retriever_prefix", "retriever_app_hash"),
                    ("voice_repeat", "voice_rate"),
                ]
            },
        ),
        ("API token", {"fields": ["public_id", "token_prefix", "token_issued_at"]}),
        ("Times", {"fields": ["created_at", "updated_at"]}),
    ]

    def save_model(self, request, obj, form, change) -> None:
        """An operator's change goes into the stream's audit trail too."""
        names = [n for n in form.changed_data if n in {f.name for f in obj._meta.fields}]
        before = {}
        if change and names:
            stored = Stream.objects.get(pk=obj.pk)
            before = {n: _admin_value(stored, n) for n in names}
        super().save_model(request, obj, form, change)
        if change and names:
            after = {n: _admin_value(obj, n) for n in names}
            record_stream_changes(
                stream=obj, by=None, before=before, after=after, user=request.user
            )


def _admin_value(stream: Stream, name: str) -> object:
    value = getattr(stream, name)
    if hasattr(value, "pk"):
        return str(value)
    return value


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    """Budgets of accounts (no stream) and of streams; the console edits them too."""

    list_display = ["account", "stream", "period", "unit", "limit", "updated_at"]
    list_filter = ["period", "unit", "account"]
    search_fields = ["account__name", "stream__name"]
    autocomplete_fields = ["account"]
    raw_id_fields = ["stream"]
