"""Reads of outbound messages for the pages that show them (the console's outbox)."""

from django.db.models import QuerySet

from streams.models import Account

from .models import Gateway, OutboundMessage


def outbox_messages(account: Account) -> QuerySet[OutboundMessage]:
    """What the development console gateway "sent" for ``account``, newest first."""
    return OutboundMessage.objects.filter(
        account=account, gateway__kind=Gateway.Kind.CONSOLE
    ).order_by("-created_at")
