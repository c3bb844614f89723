"""Data for a benchmark run, printed as JSON: tokens, request bodies and the queries a
send and a verify take. ``python -m bench.prepare <dir> <verifications>``."""

import json
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import django

django.setup()

import phonenumbers  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from gateways.models import Gateway, RouteHop, RouteRule  # noqa: E402
from otp import codes  # noqa: E402
from otp.models import Verification  # noqa: E402
from streams import services  # noqa: E402
from streams.models import Account, Budget, EventTemplate, SenderID, Stream  # noqa: E402

CODE = "482913"


def recipients(count: int) -> list[str]:
    found = []
    for area in (415, 650, 212, 646, 312, 617, 206, 303):
        for n in range(2_000_000, 10_000_000, 997):
            number = f"+1{area}{n:07d}"
            parsed = phonenumbers.parse(number)
            if phonenumbers.is_valid_number(parsed):
                found.append(number)
                if len(found) == count:
                    return found
    return found


def stream(account, name: str, **fields) -> tuple[Stream, str]:
    sender = SenderID.objects.get_or_create(account=account, value="Bench")[0]
    # The velocity guard would (rightly) stop 20,000 unused codes to a few hundred US
    # prefixes: these measures keep it out of the way (all of +1 on the safe list); the
    # guard's own cost is a separate measure.
    fields.setdefault("guard_safe_list", ["+1"])
    s = Stream.objects.create(
        account=account, name=name, allowed_ips=["127.0.0.1"], default_sender=sender, **fields
    )
    EventTemplate.objects.create(stream=s, name="Log-in", key="login", text="Your code is {{code}}")
    return s, services.activate_stream(stream=s)


def guarded_pair(account, numbers: list[str]) -> tuple[str, str]:
    """Two fresh streams for the guard's cost, sent the same recipients in the same run:
    *off* keeps the guard out of the way as every other measure does (all of +1 on the
    safe list, no budgets, every country); *on* has the whole guard in enforce mode: the
    velocity and conversion rules judge every send (no safe list), a country allowlist,
    and daily and monthly message budgets (each send counts against both, on their
    shared counter rows). Its recipients' groups are given a record of converting (as a
    stream whose users sign in has), so the guard judges and lets the sends through: the
    cost measured is that of an allowed send, not of a refusal."""
    from django.core.cache import cache

    from otp import velocity
    from streams import ratelimit

    _, off = stream(account, "guard-off")
    guarded, on = stream(account, "guard-on", guard_safe_list=[], allowed_countries=["US"])
    for period in (Budget.Period.DAY, Budget.Period.MONTH):
        Budget.objects.create(
            account=account,
            stream=guarded,
            period=period,
            unit=Budget.Unit.MESSAGES,
            limit=10**9,
        )
    window = int(timezone.now().timestamp() // velocity.GRAIN)
    approved = {}
    for number in numbers:
        for scope, identity in velocity._groups(guarded, number, "US"):
            approved[ratelimit._key(f"{scope}-approved", identity, window)] = 1_000_000
    # Kept as long as the guard reads them (its sliding hour).
    cache.set_many(approved, timeout=velocity.GRAIN * velocity.WINDOWS)
    return off, on


def pool(s: Stream, count: int, max_attempts: int) -> list[str]:
    expires = timezone.now() + timedelta(days=1)
    rows = []
    for i in range(count):
        vid = uuid.uuid4()
        rows.append(
            Verification(
                id=vid,
                stream=s,
                event_key="login",
                recipient=f"+1415{i:07d}",  # one pending code per recipient
                code_hash=codes.hash_code(vid, CODE),
                max_attempts=max_attempts,
                expires_at=expires,
            )
        )
    Verification.objects.bulk_create(rows, batch_size=5000)
    return [str(r.id) for r in rows]


def count_queries(token: str) -> dict:
    client = Client(HTTP_HOST="127.0.0.1", REMOTE_ADDR="127.0.0.1")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    body = json.dumps({"recipient": "+14155552671", "event": "login"})
    client.post("/api/v1/otp/send", body, content_type="application/json", **auth)  # warm up
    with CaptureQueriesContext(connection) as sent:
        answer = client.post("/api/v1/otp/send", body, content_type="application/json", **auth)
    from gateways.models import OutboundMessage

    text = OutboundMessage.objects.filter(verification_id=answer.json()["id"]).get().text
    code = text.rsplit(" ", 1)[1]
    verify = json.dumps({"id": answer.json()["id"], "code": code})
    with CaptureQueriesContext(connection) as verified:
        ok = client.post("/api/v1/otp/verify", verify, content_type="application/json", **auth)
    assert ok.status_code == 200, ok.content
    return {"send": len(sent.captured_queries), "verify": len(verified.captured_queries)}


def latency_account(gateway_url: str) -> tuple[Account, str]:
    """An account routed to the latency gateway (a webhook answering after 100 ms), with
    the login storm's stream."""
    account = Account.objects.create(name="Latency", slug="latency")
    gateway = Gateway.objects.create(
        name="latency",
        kind=Gateway.Kind.WEBHOOK,
        settings={"url": gateway_url},
        credentials={"signing_secret": "bench"},
    )
    rule = RouteRule.objects.create(account=account, name="Latency")
    RouteHop.objects.create(rule=rule, gateway=gateway)
    return account, stream(account, "storm")[1]


def main(workdir: str, verifications: int, gateway_url: str = "") -> None:
    out = Path(workdir)
    account = Account.objects.create(name="Bench", slug="bench")
    _, open_token = stream(account, "open")
    _, limited_token = stream(
        account,
        "limited",
        send_limit_enabled=True,
        send_limit_count=3,
        send_limit_cooldown_minutes=60,
    )
    right, right_token = stream(account, "verify", code_generator="client", max_attempts=20)
    wrong, wrong_token = stream(account, "wrong", code_generator="client", max_attempts=20)
    numbers = recipients(20_000)
    (out / "send.txt").write_text(
        "\n".join(json.dumps({"recipient": n, "event": "login"}) for n in numbers) + "\n"
    )
    raw, raw_token = stream(account, "raw-verify", code_generator="client", max_attempts=20)
    right_ids = pool(right, verifications, 20)
    raw_ids = pool(raw, verifications, 20)
    (out / "verify_raw.txt").write_text(
        "\n".join(json.dumps({"id": i, "code": CODE}) for i in raw_ids) + "\n"
    )
    guard_off_token, guard_on_token = guarded_pair(account, numbers)
    _, scale_token = stream(account, "scale")
    storm_token = latency_account(gateway_url)[1] if gateway_url else ""
    wrong_ids = pool(wrong, max(verifications // 10, 1000), 20)
    (out / "verify_right.txt").write_text(
        "\n".join(json.dumps({"id": i, "code": CODE}) for i in right_ids) + "\n"
    )
    (out / "verify_wrong.txt").write_text(
        "\n".join(json.dumps({"id": i, "code": "000000"}) for i in wrong_ids) + "\n"
    )
    (out / "status.txt").write_text("\n".join(f"/api/v1/otp/{i}" for i in right_ids[:5000]) + "\n")
    (out / "ceiling.txt").write_text("/bench/ceiling\n")
    print(
        json.dumps(
            {
                "tokens": {
                    "open": open_token,
                    "limited": limited_token,
                    "verify": right_token,
                    "wrong": wrong_token,
                    "raw_verify": raw_token,
                    "storm": storm_token,
                    "guard_off": guard_off_token,
                    "guard_on": guard_on_token,
                    "scale": scale_token,
                },
                "recipients": len(numbers),
                "queries": count_queries(open_token),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), *sys.argv[3:4])
