from django.contrib import admin

from .models import BudgetCounter, SendDecision, Verification


@admin.register(Verification)
class VerificationAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "stream",
        "event_key",
        "recipient",
        "channel",
        "status",
        "attempts",
        "created_at",
        "expires_at",
    ]
    list_filter = ["status", "channel", "stream__account"]
    search_fields = ["id", "recipient", "event_key", "idempotency_key"]
    date_hierarchy = "created_at"
    list_select_related = ["stream"]
    # The code hash is never shown; verifications are changed only by the API.
    exclude = ["code_hash"]
    readonly_fields = [
        "id",
        "stream",
        "event_template",
        "event_key",
        "recipient",
        "channel",
        "status",
        "attempts",
        "max_attempts",
        "expires_at",
        "created_at",
        "decided_at",
        "caller_ip",
        "end_user_ip",
        "idempotency_key",
    ]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(SendDecision)
class SendDecisionAdmin(admin.ModelAdmin):
    """The guard's decisions: read-only, they are the record of what it did and why."""

    list_display = [
        "created_at",
        "stream",
        "recipient",
        "country",
        "prefix",
        "rule",
        "measured",
        "threshold",
        "mode",
        "outcome",
        "reason",
    ]
    list_filter = ["rule", "mode", "outcome", "channel", "stream__account"]
    search_fields = ["recipient", "prefix", "reason"]
    date_hierarchy = "created_at"
    list_select_related = ["stream"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BudgetCounter)
class BudgetCounterAdmin(admin.ModelAdmin):
    """What each budget spent per period: counted by the send path only."""

    list_display = ["budget", "period_start", "spent", "ceiling", "alerted_percent"]
    list_filter = ["period_start"]
    list_select_related = ["budget__account", "budget__stream"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
