"""Reads other apps make of gateways' models: the messages of verifications, and the
console's outbox."""

from collections.abc import Iterable
from uuid import UUID

from django.db.models import QuerySet

from streams.models import Account

from .models import Gateway, OutboundMessage


def messages_for_verification(verification_id: UUID) -> QuerySet[OutboundMessage]:
    """The messages that carried a verification's code, newest first."""
    return OutboundMessage.objects.filter(verification_id=verification_id).order_by("-created_at")


def messages_of_verifications(verification_ids: Iterable[UUID]) -> QuerySet[OutboundMessage]:
    """The messages of several verifications with their gateways, oldest first."""
    return (
        OutboundMessage.objects.filter(verification_id__in=list(verification_ids))
        .select_related("gateway")
        .order_by("created_at", "id")
    )


def verifications_with_delivered_message(verification_ids: Iterable[UUID]) -> set[UUID]:
    """Those of these verifications with a message a delivery report says delivered."""
    delivered = OutboundMessage.objects.filter(
        verification_id__in=list(verification_ids), status=OutboundMessage.Status.DELIVERED
    )
    return set(delivered.values_list("verification_id", flat=True))


def latest_message_by_verification(
    verification_ids: Iterable[UUID],
) -> dict[UUID, OutboundMessage]:
    """Each verification's newest message, keyed by the verification's id; a
    verification without a message is left out."""
    latest: dict[UUID, OutboundMessage] = {}
    messages = OutboundMessage.objects.filter(verification_id__in=list(verification_ids))
    for message in messages.order_by("created_at"):
        latest[message.verification_id] = message
    return latest


def outbox_messages(account: Account) -> QuerySet[OutboundMessage]:
    """What the development console gateway "sent" for ``account``, newest first."""
    return OutboundMessage.objects.filter(
        account=account, gateway__kind=Gateway.Kind.CONSOLE
    ).order_by("-created_at")
