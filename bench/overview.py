"""``python -m bench.overview``: the overview's server time at volume.

Loads N verifications (default 1,000,000) and their messages into a fresh PostgreSQL
database with ``generate_series`` (spread over 30 days, 3 streams, 2 events, 2 channels,
10 countries, 2 gateways, realistic outcomes), times the full rollup refresh and an
incremental one, then requests the overview in-process (Django's test client: the
server's time without the network) for each period and some filters, and prints p50
and p95. Target: p95 <= 300 ms on this 2-core machine. Results go to
bench/results/overview-<time>.json. ``--smoke`` loads 20,000 (the test suite runs it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
TARGET_P95_MS = 300.0

VERIFICATIONS_SQL = """
INSERT INTO otp_verification (
    id, stream_id, event_template_id, event_key, recipient, country, channel, code_hash,
    status, reason, attempts, max_attempts, expires_at, created_at, decided_at, changed_at,
    caller_ip, end_user_ip, idempotency_key, locale)
SELECT gen_random_uuid(), s.stream_id, NULL, s.event_key, s.recipient, s.country, s.channel,
       repeat('0', 64), s.status,
       CASE s.status WHEN 'pending' THEN '' WHEN 'canceled' THEN 'canceled_by_client'
            WHEN 'failed' THEN 'undeliverable' ELSE s.status END,
       0, 5, s.created_at + interval '5 minutes', s.created_at,
       CASE WHEN s.status = 'pending' THEN NULL
            ELSE s.created_at + make_interval(secs => 3 + (s.h %% 97)) END,
       s.created_at, NULL, NULL, '', ''
FROM (
    SELECT i, h,
           (%(streams)s::bigint[])[1 + h %% 3] AS stream_id,
           CASE WHEN h %% 10 < 8 THEN 'login' ELSE 'reset' END AS event_key,
           (ARRAY['US','US','US','US','GB','GB','DE','FR','IN','BR','NG','ID','MX','ES'])
               [1 + (h / 7) %% 14] AS country,
           '+1415555' || lpad((i %% 10000)::text, 4, '0') AS recipient,
           CASE WHEN h %% 20 = 0 THEN 'voice' ELSE 'sms' END AS channel,
           CASE WHEN h %% 100 < 71 THEN 'approved' WHEN h %% 100 < 81 THEN 'expired'
                WHEN h %% 100 < 84 THEN 'max_attempts_reached'
                WHEN h %% 100 < 90 THEN 'canceled' WHEN h %% 100 < 94 THEN 'failed'
                -- One pending code per recipient and event (a constraint): the first
                -- 10,000 rows have distinct recipients; older codes have expired.
                WHEN i <= 10000 THEN 'pending' ELSE 'expired' END AS status,
           now() - make_interval(secs => (i::bigint * 2591) %% (30 * 86400)) AS created_at
    FROM (SELECT i, (i::bigint * 2654435761) %% 1000003 AS h
          FROM generate_series(1, %(count)s) AS i) AS seq
) AS s
"""

MESSAGES_SQL = """
INSERT INTO gateways_outboundmessage (
    id, account_id, verification_id, channel, recipient, sender, text, masked_text,
    expires_at, encoding, segments, voice_language, voice_gender, voice, status, gateway_id,
    provider_message_id, attempts, last_error, next_attempt_at, route_position, hop_attempts,
    claimed_at, provider_status, possibly_duplicated, created_at, updated_at, sent_at,
    delivered_at)
SELECT gen_random_uuid(), %(account)s, v.id, v.channel, v.recipient, 'Bench',
       %(text)s, %(text)s, NULL, 'gsm7', 1, '', '', '{}', m.status,
       CASE WHEN m.status IN ('failed', 'queued') THEN NULL
            ELSE (%(gateways)s::bigint[])[1 + (hashtext(v.id::text) & 1)] END,
       '', 1, '', NULL, 0, 0, NULL, '', false, v.created_at, v.created_at,
       CASE WHEN m.status = 'queued' THEN NULL ELSE v.created_at + interval '1 second' END,
       CASE WHEN m.status = 'delivered'
            THEN v.created_at + make_interval(secs => 2 + (hashtext(v.id::text) & 15))
            ELSE NULL END
FROM otp_verification v
CROSS JOIN LATERAL (SELECT CASE
    WHEN v.status = 'failed' THEN 'failed'
    WHEN v.status = 'pending' THEN 'queued'
    WHEN v.status = 'expired' AND (hashtext(v.id::text) & 1) = 0 THEN 'undelivered'
    WHEN (hashtext(v.id::text) & 7) = 0 THEN 'sent'
    ELSE 'delivered' END AS status) AS m
"""


# The guard's decisions: one refused send (or shadow finding) per 20 verifications,
# spread like them over 30 days, the streams, events, channels, countries, codes and rules.
DECISIONS_SQL = """
INSERT INTO otp_senddecision (
    stream_id, recipient, event_key, channel, country, prefix, end_user_ip, rule, code,
    reason, measured, threshold, mode, outcome, created_at)
SELECT (%(streams)s::bigint[])[1 + h %% 3], '+1415555' || lpad((i %% 10000)::text, 4, '0'),
       CASE WHEN h %% 10 < 8 THEN 'login' ELSE 'reset' END,
       CASE WHEN h %% 20 = 0 THEN 'voice' ELSE 'sms' END,
       (ARRAY['US','GB','DE','FR','IN','BR','NG','ID'])[1 + (h / 7) %% 8], '', NULL,
       r.rule, r.code, 'bench', NULL, NULL,
       CASE WHEN r.outcome = 'allowed_in_shadow' THEN 'shadow' ELSE 'enforce' END, r.outcome,
       now() - make_interval(secs => (i::bigint * 2591) %% (30 * 86400))
FROM (SELECT i, (i::bigint * 2654435761) %% 1000003 AS h
      FROM generate_series(1, %(count)s) AS i) AS seq
CROSS JOIN LATERAL (SELECT * FROM (VALUES
    (0, 'number_type', 'destination_not_allowed', 'blocked'),
    (1, 'country_not_allowed', 'country_not_allowed', 'blocked'),
    (2, 'budget', 'budget_exhausted', 'blocked'),
    (3, 'prefix_conversion', 'send_blocked', 'blocked'),
    (4, 'prefix_velocity', 'send_blocked', 'throttled'),
    (5, 'country_conversion', 'send_blocked', 'allowed_in_shadow')
) AS rules (n, rule, code, outcome) WHERE rules.n = seq.h %% 6) AS r
"""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.overview")
    parser.add_argument("--verifications", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=40, help="per page variant")
    parser.add_argument(
        "--database", default="postgres://postgres@127.0.0.1:5432/otp_bench_overview"
    )
    parser.add_argument("--smoke", action="store_true", help="20,000 rows, 5 requests each")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.verifications, args.requests = 20_000, 5
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from bench.__main__ import reset_database

    reset_database(args.database)
    os.environ.update(
        DATABASE_URL=args.database,
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="false",
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-overview-secret-key-" + "x" * 40),
        OTP_HASH_KEY=os.environ.get("OTP_HASH_KEY", "bench-overview-hash-key-" + "y" * 40),
        OTP_ENCRYPTION_KEY=os.environ.get(
            "OTP_ENCRYPTION_KEY", "bench-overview-encryption-key-" + "z" * 40
        ),
        OTP_ANALYTICS_MAX_AGE_SECONDS="100000000",  # measure reads, refresh separately
    )
    os.environ.pop("REDIS_URL", None)
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from gateways.models import Gateway
    from otp.models import DailyRollup, Verification, VerificationRollup
    from otp.rollups import refresh_rollups
    from streams import crypto
    from tests.support import factories

    call_command("migrate", verbosity=0)
    account = factories.make_account(name="Bench", slug="bench")
    owner = factories.make_user(account=account, role="owner")
    streams = [factories.make_stream(account, name=f"Bench {n}")[0] for n in (1, 2, 3)]
    gateways = [
        Gateway.objects.create(name="Primary SMSC", kind=Gateway.Kind.NOOP),
        Gateway.objects.create(name="Fallback SMSC", kind=Gateway.Kind.NOOP),
    ]
    figures: dict = {"verifications": args.verifications}

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            VERIFICATIONS_SQL,
            {"streams": [s.pk for s in streams], "count": args.verifications},
        )
        # The texts are encrypted at rest: one token serves every row.
        text = crypto.encrypt("Your code is ******")
        messages = {"account": account.pk, "gateways": [g.pk for g in gateways], "text": text}
        cursor.execute(MESSAGES_SQL, messages)
        cursor.execute(
            DECISIONS_SQL,
            {"streams": [s.pk for s in streams], "count": args.verifications // 20},
        )
        cursor.execute("ANALYZE otp_verification")
        cursor.execute("ANALYZE gateways_outboundmessage")
        cursor.execute("ANALYZE otp_senddecision")
    figures["load_seconds"] = round(time.perf_counter() - started, 1)
    figures["decisions"] = args.verifications // 20
    print(
        f"loaded {args.verifications:,} verifications and {figures['decisions']:,} guard "
        f"decisions in {figures['load_seconds']} s"
    )

    started = time.perf_counter()
    refresh_rollups(full=True)
    figures["full_refresh_seconds"] = round(time.perf_counter() - started, 1)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE otp_verificationrollup")
        cursor.execute("ANALYZE otp_dailyrollup")
    figures["rollup_rows"] = VerificationRollup.objects.count()
    figures["daily_rows"] = DailyRollup.objects.count()
    print(
        f"full refresh {figures['full_refresh_seconds']} s: {figures['rollup_rows']:,} "
        f"hourly rollup rows, {figures['daily_rows']:,} daily rows"
    )
    # An incremental refresh after a burst of changes: 1,000 codes entered.
    pending = Verification.objects.filter(status="pending").values("id")[:1000]
    Verification.objects.filter(id__in=pending).update(
        status="approved", reason="approved", changed_at=django_now()
    )
    started = time.perf_counter()
    hours = refresh_rollups()
    figures["incremental_refresh_seconds"] = round(time.perf_counter() - started, 2)
    print(f"incremental refresh of {hours} hours: {figures['incremental_refresh_seconds']} s")

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(owner)
    country = "DE"
    variants = {
        "today": "/?period=today",
        "7d": "/?period=7d",
        "30d": "/?period=30d",
        "30d, one stream": f"/?period=30d&stream={streams[0].pk}",
        "30d, one country": f"/?period=30d&country={country}",
        "30d, sms via one gateway": f"/?period=30d&channel=sms&gateway={gateways[0].pk}",
    }
    # A stream's page shows the same numbers beside its settings and recent codes.
    pages = {"stream page, 7d": f"/streams/{streams[0].public_id}/?period=7d"}
    timings: dict[str, list[float]] = {}
    for name, url in {**variants, **pages}.items():
        assert client.get(url).status_code == 200, url  # warm up
        samples = []
        for _ in range(args.requests):
            started = time.perf_counter()
            response = client.get(url)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        timings[name] = samples
    everything = [t for name in variants for t in timings[name]]
    table = {
        name: {
            "p50_ms": round(statistics.median(s), 1),
            "p95_ms": round(percentile(s, 95), 1),
        }
        for name, s in {**timings, "all": everything}.items()
    }
    figures["overview"] = table
    figures["target_p95_ms"] = TARGET_P95_MS
    figures["meets_target"] = table["all"]["p95_ms"] <= TARGET_P95_MS
    print(f"\n{'overview':28} {'p50 ms':>8} {'p95 ms':>8}")
    for name, row in table.items():
        print(f"{name:28} {row['p50_ms']:>8} {row['p95_ms']:>8}")
    print(f"target p95 <= {TARGET_P95_MS:.0f} ms: {'met' if figures['meets_target'] else 'MISSED'}")
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = "overview-smoke" if args.smoke else f"overview-{stamp}"
    (args.out / f"{name}.json").write_text(json.dumps(figures, indent=2))
    return 0


def django_now():
    from django.utils import timezone

    return timezone.now()


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    index = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
