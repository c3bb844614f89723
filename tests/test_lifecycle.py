"""Final reasons and the timeline: what an integrator (and the console) sees of a
verification from its send to its end, for as long as it is retained."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support import factories
from tests.support.otp_client import OtpClient, latest_code

PHONE = "+14155552671"

pytestmark = pytest.mark.django_db


@pytest.fixture
def later(monkeypatch):
    """Move the clock forward by some seconds (the app reads django's timezone.now)."""
    real_now = timezone.now

    def move(seconds: float) -> None:
        shift = timedelta(seconds=seconds)
        current = timezone.now
        monkeypatch.setattr(timezone, "now", lambda: current() + shift)

    yield move
    monkeypatch.setattr(timezone, "now", real_now)


@pytest.fixture
def api(account, eager_tasks):
    stream, token = factories.make_stream(account, default_sender=factories.make_sender(account))
    client = OtpClient(token)
    client.stream = stream
    return client


def _send(api, **body):
    response = api.send(recipient=PHONE, **body)
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_an_approved_verification_keeps_its_reason_and_timeline(api):
    vid = _send(api)
    assert api.verify(id=vid, code="000000").status_code == 400
    assert api.verify(id=vid, code=latest_code(PHONE)).status_code == 200
    assert api.verify(id=vid, code=latest_code(PHONE)).status_code == 409

    body = api.status(vid).json()
    assert (body["status"], body["reason"]) == ("approved", "approved")
    (send,) = body["timeline"]["sends"]
    assert send["channel"] == "sms" and send["gateway"] == "console"
    assert send["status"] == "sent" and send["sent_at"]
    results = [c["result"] for c in body["timeline"]["checks"]]
    assert results == ["wrong_code", "approved", "refused"]
    assert body["timeline"]["fallbacks"] == []


def test_a_newer_send_replaces_the_pending_one_and_names_it(api):
    first = _send(api)
    second = _send(api)
    body = api.status(first).json()
    assert (body["status"], body["reason"], body["replaced_by"]) == (
        "canceled",
        "replaced",
        second,
    )
    refused = api.verify(id=first, code="123456").json()["error"]
    assert refused["code"] == "verification_canceled"
    assert refused["reason"] == "replaced" and refused["replaced_by"] == second


def test_a_client_cancel_is_not_a_replacement(api):
    vid = _send(api)
    assert api.cancel(vid).status_code == 200
    body = api.status(vid).json()
    assert (body["status"], body["reason"], body["replaced_by"]) == (
        "canceled",
        "canceled_by_client",
        None,
    )


def test_max_attempts_and_expiry_have_their_reasons(api, later):
    api.stream.max_attempts = 1
    api.stream.save()
    locked = _send(api)
    api.verify(id=locked, code="000000")
    assert api.status(locked).json()["reason"] == "max_attempts_reached"

    expiring = _send(api, event="login")  # replaces nothing: the first is decided
    later(api.stream.code_ttl_seconds + 1)
    body = api.status(expiring).json()
    assert (body["status"], body["reason"]) == ("expired", "expired")


def test_a_failed_message_ends_the_verification_undeliverable(api, settings):
    from gateways.models import Gateway

    gateway = Gateway.objects.create(
        name="broken", kind="webhook", settings={"url": "http://127.0.0.1:9/"}
    )
    factories.add_route_hop(api.stream.account, gateway)
    settings.GATEWAY_MAX_RETRIES = 0
    vid = _send(api)
    body = api.status(vid).json()
    assert (body["status"], body["reason"]) == ("failed", "undeliverable")
    assert body["timeline"]["sends"][0]["status"] == "failed"


def test_console_shows_the_status_the_api_shows_at_every_moment(api, client, account, later):
    owner = factories.make_user(account=account)
    client.force_login(owner)
    vid = _send(api)
    page = client.get(f"/streams/{api.stream.public_id}/").content.decode()
    assert f'data-verification-status="{vid}">Pending<' in page

    later(api.stream.code_ttl_seconds + 1)  # nothing has written "expired" yet
    assert api.status(vid).json()["status"] == "expired"
    page = client.get(f"/streams/{api.stream.public_id}/").content.decode()
    assert f'data-verification-status="{vid}">Expired<' in page
    assert "Timeline" in page and "via console" in page


def test_a_finished_verification_is_found_while_retained(api, later):
    vid = _send(api)
    api.cancel(vid)
    later(60 * 60 * 24 * 30)
    assert api.status(vid).status_code == 200


def test_openapi_schema_documents_reasons_timeline_resend_and_test_mode(client):
    import json

    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schema = json.loads(response.content)
    components = schema["components"]["schemas"]
    detail = components["VerificationDetail"]["properties"]
    assert {"reason", "replaced_by", "test", "timeline"} <= set(detail)
    assert set(components["Timeline"]["properties"]) == {"sends", "checks", "fallbacks"}
    resend = schema["paths"]["/api/v1/otp/{verification_id}/resend"]["post"]
    assert "ResendRequest" in json.dumps(resend["requestBody"])
    assert "channel" in components["ResendRequest"]["properties"]
    assert "test_numbers_only" in json.dumps(schema["paths"]["/api/v1/otp/send"])
