"""The SMPP adapter against a real SMSC: Jasmin (``pip install jasmin``), its SMPP
server our ESME binds to, its MT route forwarding to an upstream sink SMSC that
records the exact ``submit_sm`` bytes and answers with delivery receipts, which Jasmin
relays back to our bind. Between our ESME and Jasmin, a TCP link the tests can cut."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import smpplib.gsm

from gateways import services
from gateways.adapters import PermanentError, RetryableError, smpp
from gateways.adapters.smpp_codec import decode_septets, unpack
from gateways.models import Gateway, MessageAttempt, OutboundMessage
from tests.support import factories
from tests.support.jasmin import (
    PASSWORD,
    SYSTEM_ID,
    THROTTLED_RATE,
    THROTTLED_SYSTEM_ID,
    Jasmin,
    require_jasmin,
)
from tests.support.otp_client import OtpClient
from tests.support.services import require_postgres, require_redis, wait_for
from tests.support.smsc import Link, SinkSmsc, Submitted

pytestmark = pytest.mark.services

ENQUIRE_LINK = 0x00000015  # its command id


@dataclass
class Smsc:
    sink: SinkSmsc
    jasmin: Jasmin
    link: Link


@pytest.fixture(scope="module")
def smsc(tmp_path_factory):
    """Jasmin's config and logs are kept with pytest's temporary directories."""
    require_postgres()
    require_redis()
    require_jasmin()
    sink = SinkSmsc().start()
    jasmin = Jasmin(tmp_path_factory.mktemp("jasmin"), upstream_port=sink.port)
    try:
        jasmin.start().configure()
        wait_for(lambda: sink.binds, timeout=30, message=lambda: jasmin.log.read_text())
        link = Link(jasmin.smpp_port).start()
        yield Smsc(sink, jasmin, link)
    finally:
        smpp.close_all()
        jasmin.stop()
        jasmin.discard_queues()
        sink.stop()


@pytest.fixture(autouse=True)
def _sessions_closed():
    yield
    smpp.close_all()


def new_number() -> str:
    """A recipient of this test alone: the sink's records are told apart by it."""
    return f"+3361{uuid.uuid4().int % 10**7:07d}"  # a French mobile number


def smpp_route(account, smsc: Smsc, **settings) -> Gateway:
    gateway = Gateway.objects.create(
        name=f"smpp-{uuid.uuid4().hex[:8]}",
        kind="smpp",
        settings={"host": "127.0.0.1", "port": smsc.link.port, "system_id": SYSTEM_ID} | settings,
        credentials={"password": PASSWORD},
    )
    factories.add_route_hop(account, gateway)
    return gateway


def queue(account, recipient: str, text: str, sender: str = "Acme") -> OutboundMessage:
    return services.queue_message(
        account_id=account.id, channel="sms", recipient=recipient, sender=sender, text=text
    )


def received(smsc: Smsc, number: str, count: int = 1) -> list[Submitted]:
    destination = number.lstrip("+")
    return wait_for(
        lambda: len(smsc.sink.to(destination)) >= count and smsc.sink.to(destination),
        timeout=30,
        message=lambda: (
            smsc.sink.to(destination),
            list(OutboundMessage.objects.values_list("status", "last_error")),
        ),
    )


def status_of(message: OutboundMessage, status: str, timeout: float = 30) -> OutboundMessage:
    return wait_for(
        lambda: OutboundMessage.objects.filter(id=message.id, status=status).first(),
        timeout=timeout,
        message=lambda: OutboundMessage.objects.filter(id=message.id).values_list(
            "status", "last_error", "provider_status"
        ),
    )


def test_gsm7_text_reaches_the_smsc_byte_exact_and_the_receipt_marks_it_delivered(
    transactional_db, eager_tasks, smsc
):
    account = factories.make_account()
    smpp_route(account, smsc)
    number = new_number()
    text = "Your code is 123456 [valid 5 min] ~ {ok} | €10 ^ \\ @£$ Ωé"
    message = queue(account, number, text)
    [submitted] = received(smsc, number)
    # smpplib's own GSM 03.38 encoder as the oracle: a septet an octet, ESC for the
    # extension table.
    assert submitted.data_coding == 0
    assert submitted.short_message == smpplib.gsm.gsm_encode(text)
    assert submitted.esm_class == 0
    assert submitted.registered_delivery == 1
    assert (submitted.source, submitted.source_ton, submitted.source_npi) == ("Acme", 5, 0)
    delivered = status_of(message, "delivered")
    assert delivered.provider_status == "smpp:DELIVRD"
    assert delivered.delivered_at is not None
    assert delivered.provider_message_id  # Jasmin's id, from submit_sm_resp


def test_ucs2_text_with_emoji_reaches_the_smsc_as_utf16_with_surrogate_pairs(
    transactional_db, eager_tasks, smsc
):
    account = factories.make_account()
    smpp_route(account, smsc)
    number = new_number()
    text = "Ваш код 4821 👍🏽 — 有効 🇫🇷"
    queue(account, number, text, sender="+14155550100")
    [submitted] = received(smsc, number)
    assert submitted.data_coding == 8
    assert submitted.short_message == text.encode("utf-16-be")
    assert b"\xd8\x3d\xdc\x4d" in submitted.short_message  # 👍 as a surrogate pair
    assert (submitted.source, submitted.source_ton, submitted.source_npi) == ("+14155550100", 1, 1)


def test_packed_gsm7_reaches_the_smsc_as_seven_bits_a_septet(transactional_db, eager_tasks, smsc):
    account = factories.make_account()
    smpp_route(account, smsc, alphabet="gsm-packed")
    number = new_number()
    queue(account, number, "hellohello", sender="12345")
    [submitted] = received(smsc, number)
    assert submitted.short_message == bytes.fromhex("E8329BFD4697D9EC37")  # 3GPP TS 23.038
    assert (submitted.source_ton, submitted.source_npi) == (3, 0)  # a short code


def test_latin1_alphabet_reaches_the_smsc_as_iso_8859_1(transactional_db, eager_tasks, smsc):
    account = factories.make_account()
    smpp_route(account, smsc, alphabet="latin1")
    number = new_number()
    queue(account, number, "Café 4821 @ £5 ¿ñ?")
    [submitted] = received(smsc, number)
    assert (submitted.data_coding, submitted.short_message) == (
        0,
        "Café 4821 @ £5 ¿ñ?".encode("latin-1"),
    )


@pytest.mark.parametrize(
    "text",
    [
        # 3 segments of GSM-7 (153 septets each): an extension character (two
        # septets) sits on the first boundary and must not be cut.
        "A" * 152 + "€" + "B" * 200 + " code 123456",
        # 3 segments of UCS-2 (67 units each): an emoji (two units) straddles the
        # first boundary.
        "Код " * 16 + "👍" + "ы" * 70 + " 987654",
    ],
    ids=["gsm7", "ucs2"],
)
def test_three_part_message_is_concatenated_and_reassembles_to_the_text(
    transactional_db, eager_tasks, smsc, text
):
    account = factories.make_account()
    smpp_route(account, smsc)
    number = new_number()
    message = queue(account, number, text)
    assert message.segments == 3
    parts = received(smsc, number, count=3)
    assert len(parts) == 3
    headers = [part.concatenation for part in parts]
    assert {h[0] for h in headers} == {headers[0][0]}  # one reference
    assert sorted(h[1:] for h in headers) == [(3, 1), (3, 2), (3, 3)]
    ordered = sorted(parts, key=lambda part: part.concatenation[2])
    if message.encoding == "ucs2":
        assert {part.data_coding for part in parts} == {8}
        assert b"".join(part.user_data for part in ordered).decode("utf-16-be") == text
        assert all(len(part.user_data) <= 134 for part in parts)
    else:
        assert {part.data_coding for part in parts} == {0}
        assert b"".join(part.user_data for part in ordered) == smpplib.gsm.gsm_encode(text)
        assert all(len(part.user_data) <= 153 and part.user_data[-1] != 0x1B for part in parts)
    delivered = status_of(message, "delivered")
    assert delivered.provider_message_id


def test_long_packed_message_parts_start_on_a_septet_boundary(transactional_db, eager_tasks, smsc):
    account = factories.make_account()
    smpp_route(account, smsc, alphabet="gsm-packed")
    number = new_number()
    text = "0123456789" * 40
    queue(account, number, text)
    parts = sorted(received(smsc, number, count=3), key=lambda p: p.concatenation[2])
    # A 6-octet header is 48 bits: one fill bit, then the septets.
    septets = [
        unpack(p.user_data, min(153, 400 - 153 * i), fill_bits=1) for i, p in enumerate(parts)
    ]
    assert decode_septets([s for part in septets for s in part]) == text


def test_payload_mode_sends_a_long_text_in_one_submit_sm(transactional_db, eager_tasks, smsc):
    """Checked as Jasmin's SMPP server decoded it: Jasmin 0.11.0 forwards a
    message_payload upstream only by chance (its PDU encoder checks the length against
    the last TLV it decoded, and refuses the message after answering ESME_ROK)."""
    account = factories.make_account()
    gateway = smpp_route(account, smsc, long_messages="payload")
    text = "Your code is 123456. " * 20
    message = queue(account, new_number(), text)
    sent = wait_for(lambda: OutboundMessage.objects.filter(id=message.id, gateway=gateway).first())
    assert sent.provider_message_id  # Jasmin took it
    assert smpplib.gsm.gsm_encode(text) in wait_for(smsc.jasmin.received_payloads)


def test_undelivered_receipt_marks_the_message_undelivered(transactional_db, eager_tasks, smsc):
    account = factories.make_account()
    smpp_route(account, smsc)
    number = new_number()
    smsc.sink.outcomes[number.lstrip("+")] = "UNDELIV"
    message = queue(account, number, "Your code is 555111")
    undelivered = status_of(message, "undelivered")
    assert undelivered.provider_status == "smpp:UNDELIV"
    assert "UNDELIV" in undelivered.last_error


def test_wrong_password_is_a_permanent_error(transactional_db, smsc):
    gateway = Gateway(
        pk=10**6,
        name="smpp-wrong",
        kind="smpp",
        settings={"host": "127.0.0.1", "port": smsc.link.port, "system_id": SYSTEM_ID},
        credentials={"password": "wrong"},
    )
    message = OutboundMessage(recipient=new_number(), sender="Acme", text="hello")
    with pytest.raises(PermanentError, match="bind refused"):
        smpp.SmppAdapter(gateway).send(message)


@pytest.mark.parametrize(
    ("guarantee", "error"),
    [("at_least_once", RetryableError), ("at_most_once", PermanentError)],
)
def test_a_submit_the_smsc_never_answered_is_retried_or_not_by_the_delivery_guarantee(
    transactional_db, smsc, guarantee, error
):
    """The link stalls after the submit_sm left: the SMSC may have taken it. An
    at-least-once gateway retries it (and may duplicate it), an at-most-once one does
    not. The stalled submit_sm does reach the SMSC afterwards: the reason for the rule."""
    gateway = smpp_route(factories.make_account(), smsc, timeout=1.0)
    gateway.delivery_guarantee = guarantee
    gateway.save()
    adapter = smpp.SmppAdapter(gateway)
    number = new_number()
    hello = OutboundMessage(id=uuid.uuid4(), recipient=number, sender="Acme", text="hello")
    assert adapter.send(hello)  # bound
    smsc.link.flowing.clear()
    try:
        stalled = OutboundMessage(id=uuid.uuid4(), recipient=number, sender="Acme", text="stalled")
        with pytest.raises(error, match=r"no submit_sm_resp within 1\.0 s") as raised:
            adapter.send(stalled)
    finally:
        smsc.link.flowing.set()
    if guarantee == "at_most_once":
        assert "not sent again" in raised.value.reason
    assert [p.user_data for p in received(smsc, number, count=2)] == [b"hello", b"stalled"]


def test_a_gateway_whose_settings_change_binds_anew(transactional_db, smsc):
    gateway = smpp_route(factories.make_account(), smsc)
    first = smpp.session_for(gateway)
    assert smpp.session_for(gateway) is first  # kept across tasks
    gateway.settings = {**gateway.settings, "window": 3}
    gateway.save()
    second = smpp.session_for(gateway)
    assert second is not first
    assert second.config.window == 3
    message = OutboundMessage(id=uuid.uuid4(), recipient=new_number(), sender="Acme", text="hi")
    assert smpp.SmppAdapter(gateway).send(message)


def test_an_idle_bind_sends_enquire_link_on_its_interval_and_stays_bound(transactional_db, smsc):
    """Each enquire_link answered within the 1 s timeout, or the bind would be dropped
    and no further one sent."""
    gateway = smpp_route(factories.make_account(), smsc, enquire_link_interval=0.3, timeout=1.0)
    session = smpp.session_for(gateway)
    message = OutboundMessage(id=uuid.uuid4(), recipient=new_number(), sender="Acme", text="hi")
    assert smpp.SmppAdapter(gateway).send(message)
    client, before = session._client, smsc.link.sent[ENQUIRE_LINK]
    wait_for(lambda: smsc.link.sent[ENQUIRE_LINK] >= before + 3, timeout=10)
    assert session._client is client  # answered by Jasmin: the same bind, never dropped
    assert smpp.SmppAdapter(gateway).send(message)


def test_api_send_through_a_real_worker_is_delivered_or_undelivered_as_the_receipt_says(
    transactional_db, smsc, celery_worker
):
    """API → PostgreSQL → broker → celery worker process (its own bind) → Jasmin → the
    sink, and the receipts back over that bind into the worker's receipt task."""
    account = factories.make_account()
    smpp_route(account, smsc)
    _, token = factories.make_stream(account, default_sender=factories.make_sender(account, "Acme"))
    delivered_to, undelivered_to = new_number(), new_number()
    smsc.sink.outcomes[undelivered_to.lstrip("+")] = "UNDELIV"
    client = OtpClient(token)
    sent = [client.send(recipient=number) for number in (delivered_to, undelivered_to)]
    assert [response.status_code for response in sent] == [201, 201]
    delivered = OutboundMessage.objects.get(recipient=delivered_to)
    assert status_of(delivered, "delivered").provider_status == "smpp:DELIVRD"
    undelivered = OutboundMessage.objects.get(recipient=undelivered_to)
    assert status_of(undelivered, "undelivered").provider_status == "smpp:UNDELIV"
    status = client.status(sent[0].json()["id"]).json()
    assert status["message"]["status"] == "delivered"
    [submitted] = received(smsc, delivered_to)
    assert submitted.short_message == smpplib.gsm.gsm_encode(delivered.text)


@pytest.mark.slow
def test_a_dropped_bind_is_recovered_without_losing_or_duplicating_a_message(
    transactional_db, smsc, celery_worker
):
    """Through the real worker: three messages, the TCP link to Jasmin cut (both ends
    see it drop), three more. Each reaches the SMSC once and is delivered."""
    account = factories.make_account()
    smpp_route(account, smsc)
    number = new_number()
    first = [queue(account, number, f"first {i}") for i in range(3)]
    for message in first:
        status_of(message, "delivered")
    assert smsc.link.cut() >= 1  # the worker's bind
    then = [queue(account, number, f"then {i}") for i in range(3)]
    for message in then:
        status_of(message, "delivered")
    texts = sorted(part.user_data.decode() for part in smsc.sink.to(number.lstrip("+")))
    assert texts == sorted(m.text for m in first + then)  # each once
    wait_for(lambda: smsc.link.connections() >= 1)  # bound again
    attempts = MessageAttempt.objects.filter(message__in=first + then)
    assert sorted(attempts.values_list("outcome", flat=True)) == ["sent"] * 6
    assert not OutboundMessage.objects.filter(possibly_duplicated=True).exists()


@pytest.mark.slow
def test_a_restarted_smsc_is_bound_again_without_losing_or_duplicating_a_message(
    transactional_db, smsc, celery_worker
):
    """Through the real worker: Jasmin stopped (SIGTERM) and started again while
    messages are queued; until it is configured again the link refuses connections, as
    an SMSC still starting would. Each message reaches the SMSC once and is delivered."""
    account = factories.make_account()
    smpp_route(account, smsc)
    number = new_number()
    before = queue(account, number, "before the restart")
    status_of(before, "delivered")
    smsc.link.open_.clear()
    binds = smsc.sink.binds
    smsc.jasmin.stop()
    during = [queue(account, number, f"during the restart {i}") for i in range(3)]
    smsc.jasmin.start().configure()
    wait_for(lambda: smsc.sink.binds > binds, timeout=30)  # Jasmin's connector is up again
    smsc.link.open_.set()
    for message in during:
        status_of(message, "delivered", timeout=60)
    texts = sorted(part.user_data.decode() for part in smsc.sink.to(number.lstrip("+")))
    assert texts == sorted(m.text for m in [before, *during])  # each once
    assert not OutboundMessage.objects.filter(possibly_duplicated=True).exists()


@pytest.mark.slow
def test_throughput_cap_holds_each_second_to_its_count(transactional_db, smsc):
    """Five sends at once from a pool, as a batch makes them, with a cap of 1 a second:
    the SMSC sees one in each one-second window; without the cap, all in one."""
    account = factories.make_account()

    def burst(gateway: Gateway, number: str) -> list[float]:
        ids = send_at_once(gateway, number, 5)
        assert all(isinstance(i, str) for i in ids) and len(set(ids)) == 5
        return sorted(part.at for part in received(smsc, number, count=5))

    capped = burst(smpp_route(account, smsc, throughput=1.0), new_number())
    # Windows start half a second before the first arrival (half the spacing): what
    # Jasmin's forwarding adds to a submit's way must not move it to the next window.
    windows = [int(at - capped[0] + 0.5) for at in capped]
    counts = [windows.count(w) for w in sorted(set(windows))]
    assert counts == [1, 1, 1, 1, 1]
    uncapped = burst(smpp_route(account, smsc), new_number())
    assert max(uncapped) - min(uncapped) < 1  # the same burst, in one window


@pytest.mark.slow
def test_submits_faster_than_the_smsc_allows_are_throttled_retryably_and_the_cap_prevents_it(
    transactional_db, smsc
):
    """Jasmin holds this account to 4 submit_sm a second: a burst without a cap meets
    ESME_RTHROTTLED, a retryable error; the same burst capped at 1 a second passes."""
    account = factories.make_account()
    uncapped = smpp_route(account, smsc, system_id=THROTTLED_SYSTEM_ID)
    outcomes = send_at_once(uncapped, new_number(), 6)
    throttled = [o for o in outcomes if isinstance(o, RetryableError)]
    assert throttled, outcomes
    assert {o.reason for o in throttled} == {"submit_sm refused: 0x58 ESME_RTHROTTLED"}
    smpp.close_all()
    time.sleep(1)  # Jasmin measures from the account's last submit_sm
    capped = smpp_route(account, smsc, system_id=THROTTLED_SYSTEM_ID, throughput=THROTTLED_RATE / 4)
    outcomes = send_at_once(capped, new_number(), 4)
    assert all(isinstance(o, str) for o in outcomes), outcomes


def send_at_once(gateway: Gateway, number: str, count: int) -> list[str | Exception]:
    """``count`` sends from a pool of as many threads, as a batch makes them: the
    provider id or the error of each."""
    adapter = smpp.SmppAdapter(gateway)

    def send(i: int) -> str | Exception:
        message = OutboundMessage(
            id=uuid.uuid4(), recipient=number, sender="Acme", text=f"at once {i}"
        )
        try:
            return adapter.send(message)
        except (RetryableError, PermanentError) as exc:
            return exc

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(send, range(count)))
