"""The dispatch measurement: ``queue N`` writes N messages and enqueues their delivery
with no worker running; ``drain <since> N`` waits until the worker has sent them and
prints the rate, from the messages' own ``sent_at`` times."""

import json
import sys
import time
from datetime import datetime

import django

django.setup()

from django.db.models import Max, Min  # noqa: E402
from django.utils import timezone  # noqa: E402

from gateways.models import OutboundMessage  # noqa: E402
from gateways.services import publish  # noqa: E402
from streams.models import Account  # noqa: E402


def queue(count: int) -> None:
    since = timezone.now()
    account = Account.objects.get(slug="bench")
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
    for message in messages:
        publish(str(message.id), "sms")
    print(json.dumps({"since": since.isoformat(), "queued": count}))


def drain(since: str, count: int, timeout: float = 600) -> None:
    batch = OutboundMessage.objects.filter(created_at__gte=datetime.fromisoformat(since))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if batch.filter(status="sent").count() >= count:
            break
        time.sleep(0.5)
    sent = batch.filter(status="sent")
    span = sent.aggregate(first=Min("sent_at"), last=Max("sent_at"))
    seconds = (span["last"] - span["first"]).total_seconds() if span["first"] else 0.0
    done = sent.count()
    rate = (done - 1) / seconds if seconds > 0 else 0.0
    print(
        json.dumps({"messages": done, "seconds": round(seconds, 2), "msgs_per_s": round(rate, 1)})
    )


if __name__ == "__main__":
    if sys.argv[1] == "queue":
        queue(int(sys.argv[2]))
    else:
        drain(sys.argv[2], int(sys.argv[3]))
