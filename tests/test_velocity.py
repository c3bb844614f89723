"""The velocity and conversion guard (otp/velocity.py), through the API: a burst of
codes to a prefix that never uses them is throttled, then blocked, each refusal
``send_blocked`` with its rule and reason and a stored decision; a converting prefix
is never stopped; shadow mode records without refusing; the safe list is never
judged; an end user's IP is limited in sends and countries per hour."""

import itertools
from datetime import timedelta
from unittest import mock

import phonenumbers
import pytest
from django.core.cache import cache
from django.utils import timezone

from otp.models import SendDecision, Verification
from streams.models import Stream
from tests.support import factories
from tests.support.otp_client import OtpClient

pytestmark = pytest.mark.usefixtures("eager_tasks")

_serial = itertools.count(1000)


def numbers_in(prefix: str):
    """Valid mobile numbers starting with ``prefix`` (E.164, 7 digits after the +)."""
    while True:
        candidate = f"{prefix}{next(_serial) % 10000:04d}"
        number = phonenumbers.parse(candidate)
        if phonenumbers.is_valid_number(number):
            yield candidate


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def stream_and_api(db):
    account = factories.make_account()
    stream, token = factories.make_stream(
        account,
        code_generator=Stream.CodeGenerator.CLIENT,
        guard_mode=Stream.GuardMode.ENFORCE,
        default_sender=factories.make_sender(account),
    )
    return stream, OtpClient(token)


def send(api, recipient: str, **body):
    return api.send(recipient=recipient, code="482913", **body)


def test_a_prefix_that_never_converts_is_throttled_then_blocked(stream_and_api):
    stream, api = stream_and_api
    statuses, bodies = [], []
    for recipient in itertools.islice(numbers_in("+3361234"), 30):
        response = send(api, recipient)
        statuses.append(response.status_code)
        if response.status_code != 201:
            bodies.append(response.json()["error"])
    first_refusal = next(i for i, s in enumerate(statuses) if s != 201)
    assert 6 <= first_refusal <= 10
    assert 201 not in statuses[first_refusal:]
    assert 429 in statuses and statuses[-1] == 403
    assert {b["code"] for b in bodies} == {"send_blocked"}
    assert {b["rule"] for b in bodies} == {"prefix_velocity", "prefix_conversion"}
    assert "of 29 codes to +3361234… used" in bodies[-1]["reason"]
    # Every refusal is on record, with what was measured against which threshold.
    decisions = SendDecision.objects.filter(stream=stream)
    assert decisions.count() == len(bodies)
    blocked = decisions.filter(rule="prefix_conversion").first()
    assert (blocked.prefix, blocked.country, blocked.mode, blocked.outcome) == (
        "3361234",
        "FR",
        "enforce",
        "blocked",
    )
    assert (blocked.measured, blocked.threshold) == (0.0, 0.1)
    assert Verification.objects.count() == statuses.count(201)


def test_a_prefix_whose_codes_are_used_is_never_stopped(stream_and_api):
    _, api = stream_and_api
    for recipient in itertools.islice(numbers_in("+3361235"), 40):
        sent = send(api, recipient)
        assert sent.status_code == 201, sent.content
        assert api.verify(id=sent.json()["id"], code="482913").status_code == 200
    assert not SendDecision.objects.exists()


def test_shadow_mode_records_every_finding_and_refuses_nothing(stream_and_api):
    stream, api = stream_and_api
    stream.guard_mode = Stream.GuardMode.SHADOW
    stream.save()
    for recipient in itertools.islice(numbers_in("+3361236"), 20):
        assert send(api, recipient).status_code == 201
    findings = SendDecision.objects.filter(stream=stream)
    assert findings.exists()
    assert set(findings.values_list("mode", "outcome")) == {("shadow", "allowed_in_shadow")}
    assert set(findings.values_list("rule", flat=True)) <= {"prefix_velocity", "prefix_conversion"}
    assert set(findings.values_list("event_key", flat=True)) == {"login"}


def test_the_safe_list_is_never_blocked(stream_and_api):
    stream, api = stream_and_api
    stream.guard_safe_list = ["+3361237"]
    stream.save()
    for recipient in itertools.islice(numbers_in("+3361237"), 20):
        assert send(api, recipient).status_code == 201
    assert not SendDecision.objects.exists()


def test_an_end_users_ip_is_limited_in_sends_per_hour(stream_and_api):
    _, api = stream_and_api
    prefixes = [f"+33612{n:02d}" for n in range(40, 52)]
    answers = []
    for prefix in prefixes:
        sent = send(api, next(numbers_in(prefix)), end_user_ip="198.51.100.9")
        answers.append(sent.status_code)
        if sent.status_code == 201:
            api.verify(id=sent.json()["id"], code="482913")
    assert answers[:10] == [201] * 10 and answers[10:] == [403, 403]
    decision = SendDecision.objects.get(end_user_ip="198.51.100.9", measured=11)
    assert decision.rule == "ip_velocity"
    # Another end user is not affected.
    assert send(api, next(numbers_in("+3361260")), end_user_ip="198.51.100.10").status_code == 201


def test_an_end_users_ip_reaching_many_countries_is_blocked(stream_and_api):
    _, api = stream_and_api
    answers = [
        send(api, number, end_user_ip="203.0.113.5").status_code
        for number in ("+33612345678", "+4915123456789", "+447911123456", "+34612345678")
    ]
    assert answers == [201, 201, 201, 403]
    assert SendDecision.objects.get().rule == "ip_countries"


@pytest.mark.parametrize("policy", [Stream.ResendPolicy.SAME_CODE, Stream.ResendPolicy.NEW_CODE])
def test_resending_one_unused_code_again_and_again_is_judged_like_any_send(stream_and_api, policy):
    """Pumping through the resend endpoint: one code, sent again and again to a number
    whose range never converts, from one end user."""
    stream, api = stream_and_api
    stream.resend_policy = policy
    stream.save()
    (recipient,) = itertools.islice(numbers_in("+3361237"), 1)
    vid = send(api, recipient, end_user_ip="203.0.113.9").json()["id"]
    statuses = []
    for _ in range(15):
        resent = api.post(f"{vid}/resend", {})
        statuses.append(resent.status_code)
        if resent.status_code == 201:
            vid = resent.json()["id"]
    refusals = statuses[statuses.index(next(s for s in statuses if s != 201)) :]
    assert 201 not in refusals and len(refusals) >= 5
    decisions = SendDecision.objects.filter(stream=stream)
    assert decisions.count() == len(refusals)
    # The end user's IP counts the resends too (at most 10 codes an hour).
    assert set(decisions.values_list("rule", flat=True)) <= {
        "prefix_velocity",
        "prefix_conversion",
        "ip_velocity",
    }


def test_a_country_that_never_converts_is_throttled_then_blocked_across_its_prefixes(
    stream_and_api,
):
    """A pump spread thin over many prefixes of one country (each too rarely hit to be
    judged on its own) is caught by the country's record."""
    stream, api = stream_and_api
    start = timezone.now()
    clock = {"now": start}
    recipients = (next(numbers_in(f"+336{n:04d}")) for n in itertools.count(1200))
    results = []
    with mock.patch("django.utils.timezone.now", lambda: clock["now"]):
        for minute in range(12):
            clock["now"] = start + timedelta(minutes=minute)
            for _ in range(25):
                response = send(api, next(recipients))
                rule = None if response.status_code == 201 else response.json()["error"]["rule"]
                results.append((response.status_code, rule))
    sent = [i for i, (status, _) in enumerate(results) if status == 201]
    # Free up to 40 codes; then at most 20 a minute; blocked from the 100th on.
    assert results[40:45] == [(201, None)] * 5 and (429, "country_velocity") in results
    assert len(sent) == 100 and set(results[sent[-1] + 1 :]) == {(403, "country_conversion")}
    blocked = SendDecision.objects.filter(stream=stream, rule="country_conversion").first()
    assert (blocked.country, blocked.measured, blocked.threshold) == ("FR", 0.0, 0.1)
