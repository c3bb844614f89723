"""Gateway configuration is checked when it is saved, not when a message goes out: each
adapter declares its settings, credentials and capabilities; the admin and the model
refuse what does not fit; and an adapter that breaks anyway fails the message over (or
fails it) with the error recorded, never leaving it stuck in ``sending``."""

import re
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from gateways.adapters import REGISTRY
from gateways.adapters.kannel import KannelAdapter
from gateways.adapters.twilio import TwilioAdapter
from gateways.models import Gateway, MessageAttempt, OutboundMessage
from otp.models import Verification
from tests.support import factories
from tests.support.otp_client import OtpClient

PHONE = "+14155552671"
KANNEL = {"url": "http://kannel:13013/cgi-bin/sendsms", "username": "otp"}


@pytest.fixture
def admin_client(client, db):
    client.force_login(factories.make_user(is_staff=True, is_superuser=True))
    return client


def add_gateway(admin_client, **fields):
    data = {
        "name": "sms",
        "kind": "kannel",
        "enabled": "on",
        "supports_sms": "on",
        "settings": '{"url": "http://kannel/cgi-bin/sendsms", "username": "otp"}',
        "new_credentials": '{"password": "pw"}',
        "rate_per_second": "0",
        "routes-TOTAL_FORMS": "0",
        "routes-INITIAL_FORMS": "0",
    }
    data.update(fields)
    return admin_client.post(reverse("admin:gateways_gateway_add"), data)


# --- The admin form ------------------------------------------------------------------


def test_a_complete_kannel_gateway_is_saved(admin_client):
    response = add_gateway(admin_client)
    assert response.status_code == 302
    gateway = Gateway.objects.get()
    assert gateway.settings["url"] == "http://kannel/cgi-bin/sendsms"
    assert gateway.credentials == {"password": "pw"}


def test_a_kannel_gateway_without_url_cannot_be_saved(admin_client):
    response = add_gateway(admin_client, settings='{"username": "otp"}')
    assert response.status_code == 200
    assert "'url' is required." in response.context["adminform"].form.errors["settings"]
    assert not Gateway.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field", "error"),
    [
        (
            {"settings": '{"url": "http://k", "username": "otp", "colour": 1}'},
            "settings",
            "Unknown key 'colour'.",
        ),
        (
            {"settings": '{"url": "http://k", "username": "otp", "timeout": "5"}'},
            "settings",
            "'timeout' must be number.",
        ),
        (
            {"settings": '{"url": "http://k", "username": "otp", "max_retries": 1.5}'},
            "settings",
            "'max_retries' must be integer.",
        ),
        ({"settings": '["url"]'}, "settings", "Enter a JSON object."),
        ({"new_credentials": ""}, "new_credentials", "'password' is required."),
        (
            {"new_credentials": '{"password": "pw", "url": "x"}'},
            "new_credentials",
            "Unknown key 'url'.",
        ),
        ({"supports_voice": "on"}, "supports_voice", "A kannel gateway cannot place voice calls."),
    ],
)
def test_settings_credentials_and_capabilities_are_checked_field_by_field(
    admin_client, fields, field, error
):
    response = add_gateway(admin_client, **fields)
    assert response.status_code == 200
    assert error in response.context["adminform"].form.errors[field]
    assert not Gateway.objects.exists()


def test_a_kind_without_an_adapter_cannot_be_chosen_or_saved(admin_client):
    response = add_gateway(admin_client, kind="ucp")
    assert response.status_code == 200
    assert "kind" in response.context["adminform"].form.errors
    assert not Gateway.objects.exists()
    with pytest.raises(ValidationError) as refused:
        Gateway(name="ucp", kind="ucp").full_clean()
    assert "No adapter handles the kind 'ucp'." in refused.value.message_dict["kind"]


def test_model_clean_holds_outside_the_admin(db):
    with pytest.raises(ValidationError) as refused:
        Gateway(name="k", kind="kannel", settings={"username": "otp"}).full_clean()
    assert refused.value.message_dict["settings"] == ["'url' is required."]
    assert refused.value.message_dict["credentials"] == ["'password' is required."]
    Gateway(name="k", kind="kannel", settings=KANNEL, credentials={"password": "pw"}).full_clean()


def test_stored_credentials_are_kept_and_checked_when_left_empty(admin_client):
    add_gateway(admin_client)
    gateway = Gateway.objects.get()
    url = reverse("admin:gateways_gateway_change", args=[gateway.pk])
    response = admin_client.post(
        url,
        {
            "name": "sms",
            "kind": "kannel",
            "supports_sms": "on",
            "settings": '{"url": "http://other/cgi-bin/sendsms", "username": "otp"}',
            "new_credentials": "",
            "rate_per_second": "5",
            "routes-TOTAL_FORMS": "0",
            "routes-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    gateway.refresh_from_db()
    assert gateway.credentials == {"password": "pw"} and gateway.rate_per_second == 5


def test_the_change_page_shows_the_delivery_report_url(admin_client, settings):
    settings.PUBLIC_BASE_URL = "https://otp.example.com"
    add_gateway(admin_client)
    gateway = Gateway.objects.get()
    page = admin_client.get(reverse("admin:gateways_gateway_change", args=[gateway.pk]))
    expected = f"https://otp.example.com/gateways/{gateway.pk}/receipts/{gateway.receipt_secret}/"
    assert expected in page.content.decode()


# --- Delivery: capabilities and broken adapters ---------------------------------------


@pytest.fixture
def api(account):
    _, token = factories.make_stream(account, default_sender=factories.make_sender(account))
    return OtpClient(token)


def test_routing_skips_a_gateway_whose_adapter_cannot_carry_the_channel(account, api, eager_tasks):
    # Saved before the check existed: claims voice, but Kannel sends SMS only.
    kannel = Gateway.objects.create(
        name="kannel", kind="kannel", settings=KANNEL, supports_voice=True
    )
    console = Gateway.objects.create(name="console-voice", kind="console", supports_voice=True)
    factories.add_route_hop(account, kannel)
    factories.add_route_hop(account, console)
    assert api.send(recipient=PHONE, channel="voice").status_code == 201
    message = OutboundMessage.objects.get()
    assert message.status == "sent" and message.gateway == console
    assert not MessageAttempt.objects.filter(gateway=kannel).exists()


def test_a_kannel_gateway_saved_without_url_fails_the_message_instead_of_sticking(
    account, api, eager_tasks
):
    # Saved before the check existed: every delivery raised KeyError('url').
    broken = Gateway.objects.create(name="kannel", kind="kannel", settings={"username": "x"})
    factories.add_route_hop(account, broken)
    sent = api.send(recipient=PHONE).json()
    message = OutboundMessage.objects.get()
    assert message.status == "failed"
    assert "KeyError" in message.last_error
    [attempt] = MessageAttempt.objects.all()
    assert attempt.outcome == "permanent" and "KeyError" in attempt.error
    assert Verification.objects.get().status == "failed"
    assert api.status(sent["id"]).json()["status"] == "failed"


def test_an_adapter_that_raises_anything_fails_over_to_the_next_gateway(
    account, api, eager_tasks, monkeypatch
):
    def broken_send(self, message):
        raise ValueError("bad setting")

    monkeypatch.setattr(TwilioAdapter, "send", broken_send)
    twilio = Gateway.objects.create(name="twilio", kind="twilio")
    console = Gateway.objects.create(name="console", kind="console")
    factories.add_route_hop(account, twilio)
    factories.add_route_hop(account, console)
    assert api.send(recipient=PHONE).status_code == 201
    message = OutboundMessage.objects.get()
    assert message.status == "sent" and message.gateway == console
    attempts = list(MessageAttempt.objects.values_list("gateway__name", "outcome", "error"))
    assert (
        attempts[0][:2] == ("twilio", "permanent") and "ValueError: bad setting" in attempts[0][2]
    )
    assert attempts[1][:2] == ("console", "sent")
    assert Verification.objects.get().status == "pending"


# --- Docs ----------------------------------------------------------------------------


def test_the_operations_doc_lists_each_adapters_declared_keys():
    doc = (Path(__file__).resolve().parent.parent / "docs" / "operations.md").read_text()
    rows = {}
    for line in doc.splitlines():
        match = re.match(r"\| `(\w+)` \| (.*?) \| (.*?) \|", line)
        if match:
            rows[match[1]] = (match[2], match[3])
    assert set(rows) == set(REGISTRY)
    for kind, adapter in REGISTRY.items():
        settings_cell, credentials_cell = rows[kind]
        documented = set(re.findall(r"`(\w+)`", settings_cell))
        assert documented == {s.name for s in adapter.specs if not s.secret}, kind
        documented = set(re.findall(r"`(\w+)`", credentials_cell))
        assert documented == {s.name for s in adapter.credential_specs()}, kind
    for spec in KannelAdapter.setting_specs():
        assert f"`{spec.name}`" in doc


# --- The migration away from the foreign key to otp ------------------------------------


@pytest.mark.django_db(transaction=True)
def test_messages_keep_their_verification_through_the_migration():
    executor = MigrationExecutor(connection)
    old = [("gateways", "0002_dispatch_route_and_claim")]
    executor.migrate(old)
    apps = executor.loader.project_state(old).apps
    account = apps.get_model("streams", "Account").objects.create(name="Acme", slug="acme")
    stream = apps.get_model("streams", "Stream").objects.create(account=account, name="Login")
    verification = apps.get_model("otp", "Verification").objects.create(
        stream=stream, recipient=PHONE, max_attempts=5, expires_at="2030-01-01T00:00:00Z"
    )
    apps.get_model("gateways", "OutboundMessage").objects.create(
        account=account, verification=verification, recipient=PHONE, text="x"
    )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    message = OutboundMessage.objects.get()
    assert message.verification_id == verification.id
    Verification.objects.filter(id=verification.id).delete()  # no constraint left to trip
    assert OutboundMessage.objects.filter(verification_id=verification.id).exists()
