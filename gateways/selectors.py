"""Reads other apps make of gateways' models: the messages of verifications, and the
console's outbox."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db.models import OuterRef, QuerySet, Subquery

from streams import phones
from streams.models import Account

from . import routes
from .adapters import REGISTRY
from .models import Gateway, OutboundMessage
from .sms import SMART_REPLACEMENTS, SmsParts, smart_encode, sms_parts

# The encrypted fields, left unread where only a message's status is wanted.
SEALED = ("text", "masked_text")


def messages_for_verification(verification_id: UUID) -> QuerySet[OutboundMessage]:
    """The messages that carried a verification's code, newest first; their texts are
    not read (only the worker and the outbox decrypt them)."""
    messages = OutboundMessage.objects.filter(verification_id=verification_id)
    return messages.defer(*SEALED).order_by("-created_at")


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
    for message in messages.defer(*SEALED).order_by("created_at"):
        latest[message.verification_id] = message
    return latest


def outbox_messages(account: Account) -> QuerySet[OutboundMessage]:
    """What the development console gateway "sent" for ``account``, newest first."""
    return OutboundMessage.objects.filter(
        account=account, gateway__kind=Gateway.Kind.CONSOLE
    ).order_by("-created_at")


def verifications_with_messages_changed_since(since: datetime) -> QuerySet:
    """The ``verification_id`` of every message changed at or after ``since`` (status,
    gateway, delivery report): a subquery for the analytics' rollups."""
    return OutboundMessage.objects.filter(
        updated_at__gte=since, verification_id__isnull=False
    ).values("verification_id")


def latest_message_value(field: str, verification_ref: str = "id") -> Subquery:
    """``field`` of the newest message of the verification whose id is the outer
    query's ``verification_ref``: one value per verification for an annotation."""
    newest = OutboundMessage.objects.filter(verification_id=OuterRef(verification_ref))
    return Subquery(newest.order_by("-created_at").values(field)[:1])


def gateway_names(ids) -> dict[int, str]:
    return dict(Gateway.objects.filter(id__in=list(ids)).values_list("id", "name"))


def voice_language_refusal(
    *, account_id: int, stream_id: int | None, recipient: str, language: str
) -> str | None:
    """Why no gateway of the voice route to ``recipient`` can call in ``language``, or
    ``None`` when one can. Without a voice rule the default gateway carries the call,
    and it takes any language (the console outbox)."""
    route = routes.plan(
        account_id=account_id,
        stream_id=stream_id,
        channel=OutboundMessage.Channel.VOICE,
        recipient=recipient,
        country=phones.region_of(recipient),
    )
    if route.rule is None:
        return None
    kinds = {gateway.kind for gateway in route.gateways}
    if any(REGISTRY[kind].speaks(language) is not None for kind in kinds):
        return None
    return (
        f"No voice gateway of the account speaks {language!r}: "
        + "; ".join(
            f"{kind} speaks {', '.join(sorted(REGISTRY[kind].voice_languages or ()))}"
            for kind in sorted(kinds)
        )
        + "."
    )


@dataclass(frozen=True)
class SmsMeasure:
    text: str  # as sent: smart-encoded when asked
    parts: SmsParts
    original_parts: SmsParts  # the text as written
    replaced: int  # characters smart encoding replaced


def measure_sms(text: str, *, smart_encoding: bool) -> SmsMeasure:
    """How ``text`` would travel, for the console's counters and previews: the send
    path's smart encoding and segment counting (gateways.sms)."""
    sent = smart_encode(text) if smart_encoding else text
    return SmsMeasure(
        text=sent,
        parts=sms_parts(sent),
        original_parts=sms_parts(text),
        replaced=sum(1 for ch in text if ch in SMART_REPLACEMENTS) if smart_encoding else 0,
    )
