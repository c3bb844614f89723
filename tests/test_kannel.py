"""A real Kannel from Debian with its fake SMSC: the text that reaches the SMSC is the
text we sent (GSM-7 and Unicode), and Kannel's delivery reports update the message."""

import re
import tempfile
from pathlib import Path
from urllib.parse import unquote_to_bytes

import pytest
import requests

from gateways.models import Gateway, OutboundMessage
from tests.support import factories
from tests.support.kannel import PASSWORD, Kannel, require_kannel
from tests.support.live import Server
from tests.support.otp_client import OtpClient, code_from
from tests.support.services import (
    free_port,
    require_postgres,
    require_redis,
    start_redis,
    start_worker,
    stop_worker,
    wait_for,
    worker_env,
)

pytestmark = pytest.mark.services

PHONE = "+14155552671"


@pytest.fixture(scope="module")
def kannel():
    require_kannel()
    with tempfile.TemporaryDirectory() as workdir:
        gateway = Kannel(Path(workdir)).start()
        yield gateway
        gateway.stop()


def smsc_texts(kannel: Kannel) -> list[str]:
    """Texts fakesmsc printed as received: `Got message N: <from to coding text>`."""
    texts = []
    for coding, body in re.findall(
        r"Got message \d+: <\S+ \S+ (text|ucs-2) (.*)>", kannel.received()
    ):
        if coding == "ucs-2":  # URL-encoded UTF-16BE bytes, "+" for the byte 0x20
            body = unquote_to_bytes(body.replace("+", "%20")).decode("utf-16-be")
        texts.append(body)
    return texts


def kannel_route(account, kannel: Kannel, public_base_url: str = "") -> Gateway:
    gateway = Gateway.objects.create(
        name="kannel",
        kind="kannel",
        settings={
            "url": kannel.sendsms_url,
            "username": "otp",
            "public_base_url": public_base_url,
        },
        credentials={"password": PASSWORD},
    )
    factories.add_route_hop(account, gateway)
    return gateway


@pytest.mark.parametrize(
    "template",
    ["Your code is {{code}} [valid 5 min] ~ €", "Ваш код {{code}} 👍 — 有効"],
    ids=["gsm7", "unicode"],
)
def test_text_reaching_the_smsc_is_the_text_sent_and_dlr_marks_delivered(
    transactional_db, live_server, settings, eager_tasks, kannel, template
):
    settings.PUBLIC_BASE_URL = live_server.url
    account = factories.make_account()
    kannel_route(account, kannel)
    _, token = factories.make_stream(
        account,
        default_sender=factories.make_sender(account, "Acme"),
        templates={"login": template},
    )
    assert OtpClient(token).send(recipient=PHONE).status_code == 201
    message = OutboundMessage.objects.get()
    assert message.encoding == ("gsm7" if "€" in template else "ucs2")
    wait_for(
        lambda: message.text in smsc_texts(kannel),
        message=lambda: (
            message.text,
            smsc_texts(kannel),
            list(OutboundMessage.objects.values_list("status", "last_error")),
            kannel.received()[-500:],
        ),
    )
    delivered = wait_for(
        lambda: OutboundMessage.objects.filter(id=message.id, status="delivered").first()
    )
    assert delivered.provider_status == "kannel:1"
    assert delivered.delivered_at is not None


def test_api_send_through_a_real_worker_reaches_kannel(
    transactional_db, live_server, kannel, celery_worker
):
    """API → PostgreSQL → Redis → celery worker process → Kannel → fakesmsc, and the
    delivery report back through the API server (the gateway's own receipt base URL:
    the live server's)."""
    account = factories.make_account()
    kannel_route(account, kannel, public_base_url=live_server.url)
    _, token = factories.make_stream(account, default_sender=factories.make_sender(account, "Acme"))
    sent = OtpClient(token).send(recipient=PHONE)
    assert sent.status_code == 201
    message = OutboundMessage.objects.get()
    wait_for(lambda: message.text in smsc_texts(kannel), timeout=30)
    wait_for(lambda: OutboundMessage.objects.filter(status="delivered").exists(), timeout=30)
    status = OtpClient(token).status(sent.json()["id"]).json()
    assert status["message"]["status"] == "delivered"


def test_debug_logs_of_the_kannel_path_hold_no_secret(transactional_db, kannel, tmp_path):
    """API server and worker in their own processes at DEBUG (urllib3 logs every
    provider URL), a send through Kannel and its delivery report: the logs hold neither
    the Kannel password, nor the code, nor the receipt secret."""
    require_postgres()
    require_redis()
    broker_port = free_port()
    broker = start_redis(broker_port)
    broker_url = f"redis://127.0.0.1:{broker_port}/0"
    env = {"CELERY_BROKER_URL": broker_url, "LOG_LEVEL": "DEBUG"}
    server = Server(worker_env(OTP_API_RATE_PER_TOKEN="", OTP_API_RATE_PER_IP="", **env))
    server.start()
    worker_log = tmp_path / "worker.log"
    worker = None
    try:
        account = factories.make_account()
        gateway = kannel_route(account, kannel, public_base_url=server.url)
        _, token = factories.make_stream(
            account, default_sender=factories.make_sender(account), code_generator="client"
        )
        with worker_log.open("w") as output:
            worker = start_worker(purge=False, loglevel="debug", output=output, **env)
        code = "Zq7xK2pW9m"
        sent = requests.post(
            f"{server.url}/api/v1/otp/send",
            json={"recipient": PHONE, "event": "login", "code": code},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert sent.status_code == 201, sent.text
        assert code_from(OutboundMessage.objects.get().text) == code
        wait_for(lambda: OutboundMessage.objects.filter(status="delivered").exists(), timeout=30)
    finally:
        if worker is not None:
            stop_worker(worker)
        server.stop()
        server_log = server.log()
        server.close()
        broker.terminate()
    logs = worker_log.read_text() + server_log
    assert "/cgi-bin/sendsms?" in logs  # urllib3's debug line of the provider call
    leaked = [s for s in (PASSWORD, code, gateway.receipt_secret) if s in logs]
    assert leaked == [], [line for line in logs.splitlines() if any(s in line for s in leaked)]
