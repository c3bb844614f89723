import base64

from django.contrib import admin, messages

from .credentials import rotate_secret
from .models import CompatCredential


def _show_secret(request, credential: CompatCredential, secret: str) -> None:
    if credential.peer == CompatCredential.Peer.VERIFYNOW:
        key = base64.b64encode(secret.encode()).decode()
        text = (
            f"{credential}: password {secret} (the token call's key is its base64: {key}). "
            "Copy it now: it is not shown again."
        )
    else:
        text = f"{credential}: api-key {secret}. Copy it now: it is not shown again."
    messages.warning(request, text)


@admin.register(CompatCredential)
class CompatCredentialAdmin(admin.ModelAdmin):
    list_display = ["login", "peer", "account", "stream", "event_key", "enabled", "secret_prefix"]
    list_filter = ["peer", "enabled", "account"]
    search_fields = ["login"]
    list_select_related = ["account", "stream"]
    readonly_fields = ["secret_prefix", "secret_rotated_at", "created_at"]
    actions = ["rotate_secrets"]

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new credential gets its secret on creation, shown once.
        _show_secret(request, obj, rotate_secret(credential=obj))

    @admin.action(description="Issue a new secret (the old one stops working)")
    def rotate_secrets(self, request, queryset) -> None:
        for credential in queryset:
            _show_secret(request, credential, rotate_secret(credential=credential))
