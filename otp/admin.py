from django.contrib import admin

from .models import Verification


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
