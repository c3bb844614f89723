"""Reads of the console that need care: always scoped to the user's accounts."""

from django.db.models import QuerySet

from gateways.models import Gateway, OutboundMessage

from .models import Account


def accounts_of(user) -> QuerySet[Account]:
    return Account.objects.filter(memberships__user=user)


def outbox_messages(user) -> QuerySet[OutboundMessage]:
    messages = OutboundMessage.objects.filter(gateway__kind=Gateway.Kind.CONSOLE)
    if not user.is_superuser:
        messages = messages.filter(account__in=accounts_of(user))
    return messages.order_by("-created_at")
