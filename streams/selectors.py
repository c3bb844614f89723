"""Reads of the console that need care: always scoped to one account."""

from django.db.models import QuerySet

from gateways.models import Gateway, OutboundMessage
from gateways.selectors import latest_message_by_verification
from otp.models import Verification

from .models import Account, Stream


def outbox_messages(account: Account) -> QuerySet[OutboundMessage]:
    return OutboundMessage.objects.filter(
        account=account, gateway__kind=Gateway.Kind.CONSOLE
    ).order_by("-created_at")


def recent_verifications(stream: Stream, limit: int = 20) -> list[Verification]:
    """The stream's newest verifications, each with its latest message."""
    verifications = list(Verification.objects.filter(stream=stream).order_by("-created_at")[:limit])
    latest = latest_message_by_verification(v.id for v in verifications)
    for verification in verifications:
        verification.latest_message = latest.get(verification.id)
    return verifications
