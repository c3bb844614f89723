"""The dispatch measurement: ``queue N [account]`` writes N messages of the account
(``bench``: the noop gateway; ``latency``: the 100 ms gateway) with no worker running
and triggers their delivery as the API does; ``drain <since> N [account]`` waits until
the worker has sent them and prints the rate, from the messages' own ``sent_at``
times. ``storm <since>`` waits for the login storm's messages and prints the
percentiles of accept (the message's ``created_at``, inside the send request) to
gateway submit (its ``sent_at``, once the gateway answered) of every message the
API accepted since ``since``."""

import json
import sys
import time
from datetime import datetime

import django

django.setup()

from django.db.models import Max, Min  # noqa: E402
from django.utils import timezone  # noqa: E402

from gateways.models import OutboundMessage  # noqa: E402
from gateways.services import trigger_batch  # noqa: E402
from streams.models import Account  # noqa: E402


def queue(count: int, slug: str) -> None:
    since = timezone.now()
    account = Account.objects.get(slug=slug)
    messages = [
        OutboundMessage(
            account=account,
            channel="sms",
            recipient="+14155552671",
            sender="Bench",
            text="Your code is 482913",
            encoding="gsm7",
            segments=1,
        )
        for _ in range(count)
    ]
    OutboundMessage.objects.bulk_create(messages, batch_size=5000)
    trigger_batch("sms")
    print(json.dumps({"since": since.isoformat(), "queued": count}))


def _sent(since: str, count: int, slug: str, timeout: float):
    batch = OutboundMessage.objects.filter(
        created_at__gte=datetime.fromisoformat(since), account__slug=slug
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if batch.filter(status="sent").count() >= count:
            break
        time.sleep(0.5)
    return batch.filter(status="sent")


def drain(since: str, count: int, slug: str, timeout: float = 600) -> None:
    sent = _sent(since, count, slug, timeout)
    span = sent.aggregate(first=Min("sent_at"), last=Max("sent_at"))
    seconds = (span["last"] - span["first"]).total_seconds() if span["first"] else 0.0
    done = sent.count()
    rate = (done - 1) / seconds if seconds > 0 else 0.0
    print(
        json.dumps({"messages": done, "seconds": round(seconds, 2), "msgs_per_s": round(rate, 1)})
    )


def storm(since: str, timeout: float = 600) -> None:
    queued = OutboundMessage.objects.filter(
        created_at__gte=datetime.fromisoformat(since), account__slug="latency"
    ).count()
    sent = _sent(since, queued, "latency", timeout)
    times = list(sent.values_list("created_at", "sent_at"))
    waits = sorted((s - c).total_seconds() * 1000 for c, s in times)
    accepted = sorted(c for c, _ in times)
    span = (accepted[-1] - accepted[0]).total_seconds() if len(accepted) > 1 else 0.0

    def pct(p: float) -> float:
        return round(waits[min(len(waits) - 1, int(p * len(waits)))], 1) if waits else 0.0

    print(
        json.dumps(
            {
                "accepted": queued,
                "accept_rps": round((len(accepted) - 1) / span, 1) if span else 0.0,
                "sent": len(waits),
                "p50_ms": pct(0.5),
                "p99_ms": pct(0.99),
            }
        )
    )


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "queue":
        queue(int(args[0]), *(args[1:2] or ["bench"]))
    elif command == "drain":
        drain(args[0], int(args[1]), *(args[2:3] or ["bench"]))
    else:
        storm(args[0])
