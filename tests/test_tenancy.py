"""Tenant isolation, generated over every URL pattern of the project (tests/urlwalk.py):
for every console URL and every API object, another account's user or another
stream's token gets 404/403 and changes nothing. A new view is covered the day it
is added; one whose URL keyword cannot be filled fails here until a filler exists.
"""

import pytest
from django.contrib import admin
from django.test import Client

from gateways.models import Gateway, MessageAttempt, OutboundMessage
from otp.models import Verification
from otp.rollups import refresh_rollups
from streams import services as stream_services
from streams.models import Contact, ContactField, ContactImport, Membership, Tag, WebhookDelivery
from tests.support import factories
from tests.support.otp_client import OtpClient
from tests.support.urlwalk import ADMIN, API, AUTH, CALLBACK, CannotFill, all_routes, fill, snapshot

pytestmark = pytest.mark.usefixtures("eager_tasks")

ROUTES = all_routes()
CONSOLE = [r for r in ROUTES if r.area == "console"]
# Strings only account A's data contains: none may appear on B's pages.
A_MARKERS = ["Alpha Corp", "Alpha Secret Stream", "AlphaSnd", "Adalbert", "+14155550142"]


def account_with_data(name: str, stream_name: str, sender: str, first_name: str, phone: str):
    account = factories.make_account(name=name)
    owner = factories.make_user(account=account, role="owner")
    factories.make_user(account=account, role="developer")
    field = ContactField.objects.create(account=account, key="plan", name="Plan")
    contact = Contact.objects.create(account=account, phone=phone, first_name=first_name)
    contact_import = ContactImport.objects.create(account=account, total_rows=1)
    tag = Tag.objects.create(account=account, name=f"{name} tag")
    stream, token = factories.make_stream(
        account, name=stream_name, default_sender=factories.make_sender(account, sender)
    )
    stream.tags.add(tag)
    draft, _ = factories.make_stream(account, name=f"{stream_name} draft", active=False)
    endpoint = stream_services.save_webhook_endpoint(stream=stream, url="http://127.0.0.1:9/hook")
    sent = OtpClient(token).send(recipient=phone)
    assert sent.status_code == 201, sent.content
    verification = Verification.objects.get(id=sent.json()["id"])
    message = OutboundMessage.objects.get(verification_id=verification.id)
    # The account's own gateway, routed after the send (which went to the outbox).
    gateway = Gateway.objects.create(name=f"{name} webhook", kind=Gateway.Kind.WEBHOOK)
    rule = factories.add_route_hop(account, gateway).rule
    refresh_rollups()  # the analytics are current: B's reading of the overview writes none
    objects = {
        "account": account,
        "user": owner,
        "owner": owner,
        "membership": Membership.objects.get(user=owner),
        "senderid": stream.default_sender,
        "sender": stream.default_sender,
        "contactfield": field,
        "field": field,
        "contact": contact,
        "contactimport": contact_import,
        "tag": tag,
        "stream": stream,
        "draft": draft,
        "eventtemplate": stream.templates.get(),
        "template": stream.templates.get(),
        "event": stream.templates.get(),
        "verification": verification,
        "outboundmessage": message,
        "message": message,
        "messageattempt": MessageAttempt.objects.get(message=message),
        "attempt": MessageAttempt.objects.get(message=message),
        "gateway": gateway,
        "routerule": rule,
        "webhookendpoint": endpoint,
        "endpoint": endpoint,
        "webhookdelivery": WebhookDelivery.objects.filter(endpoint=endpoint).first(),
        "delivery": WebhookDelivery.objects.filter(endpoint=endpoint).first(),
    }
    return objects, token


@pytest.fixture
def tenants(db):
    a, a_token = account_with_data(
        "Alpha Corp", "Alpha Secret Stream", "AlphaSnd", "Adalbert", "+14155550142"
    )
    b, b_token = account_with_data("Beta Ltd", "Beta Stream", "BetaSnd", "Bea", "+14155550123")
    return a, a_token, b, b_token


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_every_url_keyword_can_be_filled(tenants):
    """The guard that keeps the generated tests complete."""
    a, *_ = tenants
    unfillable = []
    for route in ROUTES:
        if route.kwargs and route.area != ADMIN:
            try:
                fill(route, a)
            except CannotFill as exc:
                unfillable.append(str(exc))
    assert unfillable == [], "add a filler in tests/urlwalk.py for: " + "; ".join(unfillable)


def test_console_urls_with_another_accounts_objects_are_404_and_change_nothing(tenants):
    a, _, b, _ = tenants
    owner_a, owner_b = signed_in(a["owner"]), signed_in(b["owner"])
    anonymous = Client()
    failures = []
    checked = 0
    for route in (r for r in CONSOLE if r.kwargs):
        path = route.path(fill(route, a))
        reachable = owner_a.get(path).status_code
        if reachable in (403, 404):
            failures.append(f"{path}: A's own owner gets {reachable}: the filler is wrong")
        before = snapshot()
        for who, client, method, allowed in [
            # 405: a POST-only view refuses GET before it looks anything up.
            ("B's owner", owner_b, "get", {403, 404, 405}),
            ("B's owner", owner_b, "post", {403, 404, 405}),
            ("anonymous", anonymous, "get", {302, 403, 404, 405}),
            ("anonymous", anonymous, "post", {302, 403, 404, 405}),
        ]:
            response = getattr(client, method)(path)
            if response.status_code not in allowed:
                failures.append(f"{method.upper()} {path} as {who}: {response.status_code}")
            elif response.status_code == 302 and "login" not in response["Location"]:
                failures.append(f"{method.upper()} {path} as {who}: redirect not to sign-in")
        if snapshot() != before:
            failures.append(f"{path}: another account's requests changed data")
        checked += 1
    assert failures == []
    print(f"console URLs with objects checked: {checked}")


def test_console_pages_show_nothing_of_another_account(tenants):
    a, _, b, _ = tenants
    owner_b = signed_in(b["owner"])
    failures = []
    for route in (r for r in CONSOLE if not r.kwargs):
        path = route.path({})
        before = snapshot()
        page = owner_b.get(path, follow=True)
        text = page.content.decode(errors="replace")
        failures += [f"GET {path} shows {m!r}" for m in A_MARKERS if m in text]
        posted = owner_b.post(path, {"name": "x", "account": a["account"].pk}, follow=True)
        text = posted.content.decode(errors="replace")
        failures += [f"POST {path} shows {m!r}" for m in A_MARKERS if m in text]
        after = snapshot()
        changed = [
            label
            for label, rows in after.items()
            if [r for r in rows if r.get("account_id") == a["account"].pk]
            != [r for r in before[label] if r.get("account_id") == a["account"].pk]
        ]
        if changed:
            failures.append(f"POST {path} by B changed A's {changed}")
    assert failures == []


def test_another_streams_token_gets_404_for_every_api_object(tenants):
    a, a_token, _, b_token = tenants
    failures = []
    routes = [r for r in ROUTES if r.area == API and r.kwargs]
    assert routes, "the API has object URLs"
    for route in routes:
        path = route.path(fill(route, a))
        methods = [m for m in ("get", "post") if hasattr(route.view_class, m)]
        before = snapshot()
        for method in methods:
            response = getattr(Client(), method)(
                path, HTTP_AUTHORIZATION=f"Bearer {b_token}", content_type="application/json"
            )
            if response.status_code != 404:
                failures.append(f"{method.upper()} {path} with B's token: {response.status_code}")
            elif response.json()["error"]["code"] != "verification_not_found":
                failures.append(f"{method.upper()} {path}: {response.json()}")
        if snapshot() != before:
            failures.append(f"{path}: B's token changed A's data")
        if "get" in methods:
            own = Client().get(path, HTTP_AUTHORIZATION=f"Bearer {a_token}")
            assert own.status_code == 200, f"{path}: A's own token gets {own.status_code}"
    assert failures == []


def test_provider_callbacks_with_another_gateways_secret_are_404(tenants):
    a, _, b, _ = tenants
    routes = [r for r in ROUTES if r.area == CALLBACK]
    for route in routes:
        values = fill(route, a)
        own = Client().post(route.path(values))
        assert own.status_code != 404, f"{route}: the filler is wrong"
        before = snapshot()
        forged = route.path({**values, "secret": b["gateway"].receipt_secret})
        for method in ("get", "post"):
            response = getattr(Client(), method)(forged)
            assert response.status_code == 404, f"{method.upper()} {forged}"
        assert snapshot() == before


def test_a_password_reset_link_for_another_user_does_nothing(tenants):
    a, *_ = tenants
    for route in (r for r in ROUTES if r.area == AUTH and r.kwargs):
        path = route.path(fill(route, a))
        before = snapshot()
        page = Client().get(path, follow=True)
        assert page.status_code == 200
        assert not page.context["validlink"]
        Client().post(path, {"new_password1": "Hijacked-123!", "new_password2": "Hijacked-123!"})
        assert snapshot() == before


def test_admin_is_only_for_staff(tenants):
    """The admin is the operators' tool across accounts: a console user of any role
    gets the admin's sign-in page for every page of every model, and changes nothing."""
    a, _, b, _ = tenants
    owner_b = signed_in(b["owner"])
    failures = []
    pages = ["/admin/"]
    for model in admin.site._registry:
        meta = model._meta
        base = f"/admin/{meta.app_label}/{meta.model_name}/"
        pages += [base, f"{base}add/"]
        obj = a.get(meta.model_name)
        if obj is not None:
            pages += [f"{base}{obj.pk}/change/", f"{base}{obj.pk}/delete/"]
    before = snapshot()
    for page in pages:
        for method in ("get", "post"):
            response = getattr(owner_b, method)(page)
            if response.status_code != 302 or "/admin/login/" not in response["Location"]:
                failures.append(f"{method.upper()} {page}: {response.status_code}")
    assert snapshot() == before
    assert failures == []
    assert len(pages) > 20
