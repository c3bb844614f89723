"""The promises about codes: drawn from a CSPRNG with enough entropy, stored only as
a keyed hash, and never shown anywhere but the message that carries them (not in the
database, logs, API answers, admin pages or error reports).

The leak checks use distinctive codes (a client-generated ``Zq7xK2pW9m`` and a
12-character platform code) so that a match can only be the code itself, never a
timestamp or an id that happens to contain the same six digits.
"""

import hashlib
import hmac
import io
import json
import logging
import math
import random
import threading
from collections import Counter

import pytest
from django.apps import apps
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.db import connection, transaction
from django.utils.log import AdminEmailHandler

from gateways.models import Gateway, OutboundMessage
from otp import codes
from otp.models import SendCounter, Verification
from streams.models import Stream
from tests.support import factories
from tests.support.otp_client import OtpClient, latest_code
from tests.support.services import require_postgres

pytestmark = pytest.mark.usefixtures("eager_tasks")

PHONE = "+14155552671"
CLIENT_CODE = "Zq7xK2pW9m"


# --- Generation -----------------------------------------------------------------------


def test_default_code_is_six_digits_of_19_93_bits(account):
    """NIST SP 800-63B (§5.1.3.1 via §5.1.4.2) asks for at least 20 bits and counts six
    decimal digits as "approximately 20 bits"; precisely, 10^6 codes are
    log2(10^6) = 19.93 bits. With 5 attempts a guesser wins with p = 5 / 10^6."""
    stream = Stream(account=account, name="Defaults")
    alphabet = codes.alphabet(
        digits=stream.code_digits,
        upper=stream.code_upper,
        lower=stream.code_lower,
        special=stream.code_special,
    )
    assert (stream.code_length, alphabet) == (6, "0123456789")
    bits = stream.code_length * math.log2(len(alphabet))
    assert round(bits, 2) == 19.93
    assert stream.max_attempts / len(alphabet) ** stream.code_length == 5e-6


def test_codes_come_from_the_os_csprng_not_the_seeded_random_module():
    """A code generator built on ``random`` would repeat itself after a reseed."""
    random.seed(7)
    first = [codes.generate_code(12) for _ in range(5)]
    random.seed(7)
    second = [codes.generate_code(12) for _ in range(5)]
    assert first != second
    # And it is the OS generator: SystemRandom cannot be seeded into repeating.
    assert len(set(first + second)) == 10


def chi_square(counts: Counter, bins: list, total: int) -> float:
    expected = total / len(bins)
    return sum((counts.get(b, 0) - expected) ** 2 / expected for b in bins)


def chi_square_limit(dof: int, z: float = 6.0) -> float:
    """Wilson-Hilferty upper quantile of chi-square with ``dof`` degrees of freedom at
    ``z`` standard deviations (z = 6: a false alarm once in ~10^9 runs)."""
    a = 2 / (9 * dof)
    return dof * (1 - a + z * math.sqrt(a)) ** 3


def uniformity(draw, n: int = 30_000) -> dict[str, float]:
    """How far ``n`` six-digit codes from ``draw`` are from uniform: the chi-square of
    each digit position (9 degrees of freedom) and of the first two digits (99)."""
    sample = [draw() for _ in range(n)]
    digits = list("0123456789")
    stats = {
        f"position {i}": chi_square(Counter(c[i] for c in sample), digits, n) for i in range(6)
    }
    pairs = [f"{i:02d}" for i in range(100)]
    stats["first two"] = chi_square(Counter(c[:2] for c in sample), pairs, n)
    return stats


def too_far(stats: dict[str, float]) -> dict[str, float]:
    limits = {name: chi_square_limit(99 if name == "first two" else 9) for name in stats}
    return {name: round(value, 1) for name, value in stats.items() if value > limits[name]}


def test_code_digits_are_uniform_by_chi_square():
    """30,000 codes: every digit position and the leading pair pass chi-square at
    z = 6 (never flaky), where a generator with a modulo bias fails."""
    assert too_far(uniformity(lambda: codes.generate_code(6))) == {}


def test_the_uniformity_check_catches_a_biased_generator():
    """The same check on a generator that favours one digit by 10% (a typical modulo
    bias) fails, so the test above can fail."""
    biased = "0123456789" * 10 + "0" * 10
    rng = random.Random(1)
    draw = lambda: "".join(rng.choice(biased) for _ in range(6))  # noqa: E731
    assert too_far(uniformity(draw))


# --- Storage ------------------------------------------------------------------------------


@pytest.fixture
def client_code_stream(account):
    stream, token = factories.make_stream(
        account, default_sender=factories.make_sender(account), code_generator="client"
    )
    stream.token = token
    return stream


@pytest.fixture
def long_code_stream(account):
    stream, token = factories.make_stream(
        account,
        default_sender=factories.make_sender(account, "Shop"),
        code_length=12,
        code_upper=True,
    )
    stream.token = token
    return stream


def every_row_as_text() -> dict[str, str]:
    """Every row of every table of the project, as text, by table."""
    dump = {}
    for model in apps.get_models():
        rows = list(model.objects.values())
        if rows:
            dump[model._meta.db_table] = json.dumps(rows, default=str)
    return dump


def test_the_code_is_stored_only_as_a_keyed_hash(client_code_stream):
    api = OtpClient(client_code_stream.token)
    first = api.send(recipient=PHONE, code=CLIENT_CODE).json()
    second = api.send(recipient="+14155550123", code=CLIENT_CODE).json()

    # The only table holding the code is the outbox's message text (what is sent).
    holding = {table for table, text in every_row_as_text().items() if CLIENT_CODE in text}
    assert holding == {OutboundMessage._meta.db_table}

    row = Verification.objects.get(id=first["id"])
    keyed = hmac.new(
        settings.OTP_HASH_KEY.encode(), f"{row.id}:{CLIENT_CODE}".encode(), hashlib.sha256
    ).hexdigest()
    assert row.code_hash == keyed
    # Not a plain hash: without the key (kept outside the database) it cannot be redone.
    assert row.code_hash != hashlib.sha256(f"{row.id}:{CLIENT_CODE}".encode()).hexdigest()
    # Salted by the verification: one code, two verifications, two hashes.
    assert Verification.objects.get(id=second["id"]).code_hash != row.code_hash


GATEWAY_SECRETS = {
    Gateway.Kind.KANNEL: (
        {"password": "kannel-pass-Hq8wZt"},
        {"url": "http://k/", "username": "u"},
    ),
    Gateway.Kind.WEBHOOK: ({"signing_secret": "whsec-Pm3vXr9Lq2"}, {"url": "http://w/"}),
    Gateway.Kind.TWILIO: ({"auth_token": "twilio-tok-Yb7nKd4s"}, {"account_sid": "AC1"}),
}


def raw_database_dump() -> str:
    """Every row of every table as the database stores it, read with plain SQL."""
    rows = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT * FROM {quoted}")  # noqa: S608 - names from the schema
            rows.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(rows)


def test_a_full_dump_holds_no_code_and_no_gateway_credential(client_code_stream):
    """Codes of pending, approved, canceled and replaced verifications, and every
    gateway credential: none readable in ``dumpdata`` or in the raw tables."""
    for kind, (credentials, gateway_settings) in GATEWAY_SECRETS.items():
        Gateway.objects.create(
            name=kind, kind=kind, settings=gateway_settings, credentials=credentials
        )
    api = OtpClient(client_code_stream.token)
    codes_sent = {
        "pending": "Pend1ngCode7",
        "approved": "Appr0vedCode",
        "canceled": "Canc3ledCode",
        "replaced": "Repl4cedCode",
        "newest": "Newe5tCode9x",
    }
    approved = api.send(recipient=PHONE, event="login", code=codes_sent["approved"]).json()
    assert api.verify(id=approved["id"], code=codes_sent["approved"]).status_code == 200
    api.send(recipient="+14155550124", event="login", code=codes_sent["pending"])
    canceled = api.send(recipient="+14155550125", event="login", code=codes_sent["canceled"])
    canceled = canceled.json()
    assert api.cancel(canceled["id"]).status_code == 200
    api.send(recipient="+14155550123", event="login", code=codes_sent["replaced"])
    api.send(recipient="+14155550123", event="login", code=codes_sent["newest"])
    assert OutboundMessage.objects.count() == 5

    dumped = io.StringIO()
    call_command("dumpdata", stdout=dumped)
    raw = raw_database_dump()
    secrets_stored = list(codes_sent.values()) + [
        value for credentials, _ in GATEWAY_SECRETS.values() for value in credentials.values()
    ]
    for dump in (dumped.getvalue(), raw):
        assert len(dump) > 1000
        assert [secret for secret in secrets_stored if secret in dump] == []

    # The key opens the codes still pending, and only those: the others are masked.
    texts = " ".join(message.text for message in OutboundMessage.objects.all())
    still_counting = {codes_sent["pending"], codes_sent["newest"]}
    assert {code for code in codes_sent.values() if code in texts} == still_counting
    assert texts.count("*" * 12) == 3  # approved, canceled, replaced: masked


def test_codes_are_compared_in_constant_time(client_code_stream, monkeypatch):
    """Every verification request compares through ``hmac.compare_digest``."""
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    api = OtpClient(client_code_stream.token)
    sent = api.send(recipient=PHONE, code=CLIENT_CODE).json()
    assert api.verify(id=sent["id"], code="wrong-code").status_code == 400
    assert api.verify(id=sent["id"], code=CLIENT_CODE).status_code == 200
    assert len(calls) == 2
    assert all(len(a) == len(b) == 64 for a, b in calls)  # two HMACs, never the codes


# --- Never shown ------------------------------------------------------------------------


class Everything(logging.Handler):
    """Every record of every logger, at every level."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def text(self) -> str:
        formatter = logging.Formatter()
        lines = []
        for record in self.records:
            lines.append(record.getMessage())
            lines.append(repr(record.args))
            if record.exc_info:
                lines.append(formatter.formatException(record.exc_info))
        return "\n".join(lines)


@pytest.fixture
def all_logs():
    """Every logger (django.request, celery, ours, ...) at DEBUG into one handler."""
    handler = Everything()
    names = ["", "django", "django.request", "django.server", "celery", "celery.task"]
    names += list(logging.root.manager.loggerDict)
    loggers = {logging.getLogger(name) for name in names}
    saved = {lg: (lg.level, lg.disabled) for lg in loggers}
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.disabled = False
        lg.addHandler(handler)
    yield handler
    for lg, (level, disabled) in saved.items():
        lg.removeHandler(handler)
        lg.setLevel(level)
        lg.disabled = disabled


def exercise(api: OtpClient, code: str | None, send: dict) -> tuple[list, str]:
    """Every API call a verification can see; their responses."""
    responses = [api.send(recipient=PHONE, **send)]
    sent = responses[0].json()
    code = code or latest_code(PHONE)
    responses += [
        api.status(sent["id"]),
        api.verify(id=sent["id"], code=code[::-1]),
        api.verify(recipient=PHONE, event="login", code=code.lower()),
        api.verify(id=sent["id"], code=code),
        api.verify(id=sent["id"], code=code),
        api.cancel(sent["id"]),
        api.status(sent["id"]),
    ]
    second = api.send(recipient=PHONE, **send).json()
    responses.append(api.cancel(second["id"]))
    return responses, code


def answer_text(response) -> str:
    return response.content.decode() + json.dumps(dict(response.headers))


@pytest.mark.parametrize("kind", ["client", "platform"])
def test_codes_never_appear_in_logs_or_api_answers(
    kind, client_code_stream, long_code_stream, all_logs
):
    if kind == "client":
        api, code, send = OtpClient(client_code_stream.token), CLIENT_CODE, {"code": CLIENT_CODE}
    else:
        api, code, send = OtpClient(long_code_stream.token), None, {}
    responses, code = exercise(api, code, send)
    assert [r.status_code for r in responses] == [201, 200, 400, 400, 200, 409, 409, 200, 200]
    assert len(all_logs.records) > 0  # the capture works: requests log their 4xx
    assert code not in all_logs.text()
    for response in responses:
        assert code not in answer_text(response)


def test_admin_pages_never_show_the_code_or_its_hash(client, client_code_stream):
    api = OtpClient(client_code_stream.token)
    sent = api.send(recipient=PHONE, code=CLIENT_CODE).json()
    verification = Verification.objects.get(id=sent["id"])
    message = OutboundMessage.objects.get(verification_id=verification.id)
    admin = factories.make_user(is_staff=True, is_superuser=True)
    client.login(username=admin.username, password=factories.PASSWORD)

    pages = [
        "/admin/otp/verification/",
        f"/admin/otp/verification/{verification.id}/change/",
        f"/admin/otp/verification/{verification.id}/delete/",
        f"/admin/otp/verification/{verification.id}/history/",
        "/admin/gateways/outboundmessage/",
        f"/admin/gateways/outboundmessage/{message.id}/change/",
        f"/admin/gateways/outboundmessage/{message.id}/delete/",
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        html = response.content.decode()
        assert CLIENT_CODE not in html, page
        assert verification.code_hash not in html, page


@pytest.mark.services
@pytest.mark.parametrize("path", ["verify", "send"])
def test_error_reports_of_a_failed_request_show_neither_code_nor_token(
    path, transactional_db, account, settings
):
    """A verification or a send that fails on the database (here: a row it needs stays
    locked past ``lock_timeout``) answers 503 and mails the operators a report with
    the traceback's local variables, which must not include the code or the token."""
    require_postgres()
    settings.ADMINS = [("Ops", "ops@example.com")]
    _, token = factories.make_stream(
        account,
        default_sender=factories.make_sender(account),
        code_generator="client",
        send_limit_enabled=True,
        send_limit_count=10,
    )
    api = OtpClient(token)
    sent = api.send(recipient=PHONE, code=CLIENT_CODE).json()
    code = CLIENT_CODE if path == "verify" else "Yt5rE3wQ8n"
    if path == "verify":
        row = Verification.objects.filter(id=sent["id"])
        request = lambda: api.verify(id=sent["id"], code=code)  # noqa: E731
    else:
        row = SendCounter.objects.filter(recipient=PHONE)
        request = lambda: api.send(recipient=PHONE, code=code)  # noqa: E731

    locked, release = threading.Event(), threading.Event()

    def hold_the_row():
        try:
            with transaction.atomic():
                row.select_for_update().get()
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    handler = AdminEmailHandler(include_html=True)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        assert locked.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
        response = request()
    finally:
        release.set()
        holder.join()
        root.removeHandler(handler)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    assert response["Retry-After"]
    reports = [m for m in mail.outbox if "ops@example.com" in m.to]
    assert reports, "the operators get a report"
    with_traceback = [m for m in reports if "Traceback" in m.body]
    assert with_traceback, "a report carries the traceback with local variables"
    for report in reports:
        texts = [report.body] + [body for body, _ in report.alternatives]
        for text in texts:
            leaked = [line for line in text.splitlines() if code in line]
            assert leaked == []
            assert token not in text
    # Once the database answers again, the same request succeeds.
    assert request().status_code in (200, 201)


@pytest.mark.services
def test_error_reports_of_a_failed_compat_validation_show_no_code(transactional_db, settings):
    """The same through a peer's API (Octopush, JSON body): its view reads the code
    before our services do."""
    from compat.models import CompatCredential
    from tests.support.compat_clients import OctopushClient, make_credential

    require_postgres()
    settings.ADMINS = [("Ops", "ops@example.com")]
    # The test sends its own text: its admin allows caller-supplied text.
    credential, key = make_credential(
        CompatCredential.Peer.OCTOPUSH, login="ops@example.org", caller_text_allowed=True
    )
    peer = OctopushClient(credential.login, key)
    generated = peer.generate(
        {"phone_number": "+33611223344", "text": "code {code}", "code_length": 12,
         "allow_digits": False, "allow_upper_case": True},
    ).json()  # fmt: skip
    code = OutboundMessage.objects.get().text.split("code ", 1)[1].split()[0]
    body = {"code": code, "otp_request_token": generated["otp_request_token"]}

    locked, release = threading.Event(), threading.Event()

    def hold_the_row():
        try:
            with transaction.atomic():
                Verification.objects.select_for_update().get()
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    handler = AdminEmailHandler(include_html=True)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        assert locked.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
        response = peer.validate(body)
    finally:
        release.set()
        holder.join()
        root.removeHandler(handler)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")

    assert response.status_code == 503, response.content
    reports = [m for m in mail.outbox if "ops@example.com" in m.to]
    assert any("Traceback" in m.body for m in reports)
    for report in reports:
        for text in [report.body] + [b for b, _ in report.alternatives]:
            assert [line for line in text.splitlines() if code in line] == []
            assert key not in text
    assert peer.validate(body).status_code == 200
