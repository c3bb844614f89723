"""Reads of verifications for the pages and answers that show them: the console's
stream page and the API's verification resource."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from uuid import UUID

from gateways.models import OutboundMessage
from gateways.selectors import latest_message_by_verification, messages_of_verifications
from streams.models import Stream

from .models import Check, Fallback, Verification


@dataclass
class Timeline:
    """What happened to one verification, oldest first: every message that carried its
    code (channel, gateway, delivery status and times), every check, every fallback."""

    sends: list[OutboundMessage] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    fallbacks: list[Fallback] = field(default_factory=list)


def timelines(verifications: Iterable[Verification]) -> dict[UUID, Timeline]:
    """The timeline of each verification: three queries, whatever the number."""
    verifications = list(verifications)
    ids = [v.id for v in verifications]
    found = {vid: Timeline() for vid in ids}
    for message in messages_of_verifications(ids):
        found[message.verification_id].sends.append(message)
    for check in Check.objects.filter(verification_id__in=ids):
        found[check.verification_id].checks.append(check)
    for verification in verifications:
        if verification.status == Verification.Status.APPROVED:
            # The approving check is the decision itself (see otp.services.check_code).
            approving = Check(
                verification=verification,
                checked_at=verification.decided_at,
                result=Check.Result.APPROVED,
            )
            found[verification.id].checks.append(approving)
            found[verification.id].checks.sort(key=lambda c: c.checked_at)
    for fallback in Fallback.objects.filter(verification_id__in=ids):
        found[fallback.verification_id].fallbacks.append(fallback)
    return found


def recent_verifications(stream: Stream, limit: int = 20) -> list[Verification]:
    """The stream's newest verifications, each with its latest message (or None) as
    ``latest_message`` and its ``timeline``: a handful of queries, whatever the number
    of rows. Show ``current_status``/``current_reason``: the API shows the same."""
    verifications = list(Verification.objects.filter(stream=stream).order_by("-created_at")[:limit])
    latest = latest_message_by_verification(v.id for v in verifications)
    found = timelines(verifications)
    for verification in verifications:
        verification.latest_message = latest.get(verification.id)
        verification.timeline = found[verification.id]
    return verifications
