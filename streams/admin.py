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
    Tag,
)


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
    inlines = [EventTemplateInline]
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


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    """Budgets of accounts (no stream) and of streams; the console edits them too."""

    list_display = ["account", "stream", "period", "unit", "limit", "updated_at"]
    list_filter = ["period", "unit", "account"]
    search_fields = ["account__name", "stream__name"]
    autocomplete_fields = ["account"]
    raw_id_fields = ["stream"]
