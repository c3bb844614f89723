"""CSRF everywhere cookies authenticate: every view of the console, the sign-in pages
and the admin refuses a POST without the CSRF token (403), generated over all URL
patterns. Only the API is exempt: it authenticates by a Bearer token and never reads
a cookie, so a forged cross-site request carries no credential."""

import pytest
from django.contrib import admin
from django.test import Client

from tests.support import factories
from tests.support.compat_clients import make_credential
from tests.support.urlwalk import ADMIN, API, CALLBACK, COMPAT, all_routes, fill
from tests.test_tenancy import account_with_data

pytestmark = pytest.mark.usefixtures("eager_tasks")

ROUTES = all_routes()
# The views that may be CSRF-exempt, and why: they read no cookie.
#   api:      the Bearer-token API (otp.api.StreamTokenAuthentication)
#   compat:   the peers' APIs, authenticated by their credentials (compat/)
#   callback: providers' delivery reports, authenticated by the gateway's secret in the URL
EXEMPT_AREAS = {API, COMPAT, CALLBACK}


def test_no_view_outside_the_api_and_provider_callbacks_is_csrf_exempt():
    exempt = [str(r) for r in ROUTES if r.csrf_exempt and r.area not in EXEMPT_AREAS]
    assert exempt == []


def test_the_apis_never_authenticate_by_cookie(client, stream_and_token):
    """What makes the API's exemption safe: a signed-in session is no credential."""
    stream, _ = stream_and_token
    owner = factories.make_user(account=stream.account, is_staff=True, is_superuser=True)
    client.force_login(owner)
    response = client.post(
        "/api/v1/otp/send",
        {"recipient": "+14155552671", "event": "login"},
        content_type="application/json",
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_token"
    # The peers' APIs neither: a session without their credentials gets nothing.
    for route in (r for r in ROUTES if r.area == COMPAT):
        answer = client.post(route.path({}), {"phoneNumber": "+14155552671"})
        assert 400 <= answer.status_code < 500, f"{route}: {answer.status_code}"


def test_the_compat_apis_never_authenticate_by_cookie(client, db):
    """The peers' APIs are exempt too: their credentials are headers, so a signed-in
    session is no credential there either."""
    credential, _ = make_credential("octopush")
    owner = factories.make_user(account=credential.account, is_staff=True, is_superuser=True)
    client.force_login(owner)
    generate = client.post(
        "/compat/octopush/v1/public/service/otp/generate",
        {"phone_number": "+33611223344"},
        content_type="application/json",
    )
    assert (generate.status_code, generate.json()["code"]) == (401, 108)
    send = client.post(
        "/compat/verifynow/verification/v2/verification/send?countryCode=33&mobileNumber=611223344"
    )
    assert (send.status_code, send.json()["message"]) == (401, "UNAUTHORIZED")


def test_every_post_without_a_csrf_token_is_refused(db):
    objects, _ = account_with_data("Alpha Corp", "Alpha", "AlphaSnd", "Ada", "+14155552671")
    superuser = factories.make_user(is_staff=True, is_superuser=True)
    members = Client(enforce_csrf_checks=True)
    members.force_login(objects["owner"])
    staff = Client(enforce_csrf_checks=True)
    staff.force_login(superuser)
    anonymous = Client(enforce_csrf_checks=True)

    paths = []
    for route in ROUTES:
        if route.area in (*EXEMPT_AREAS, ADMIN):
            continue
        paths.append((route.path(fill(route, objects)), [members, anonymous]))
    for model in admin.site._registry:
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        paths.append((base, [staff]))
        paths.append((f"{base}add/", [staff]))
        obj = objects.get(model._meta.model_name)
        if obj is not None:
            paths.append((f"{base}{obj.pk}/change/", [staff]))
            paths.append((f"{base}{obj.pk}/delete/", [staff]))
    paths.append(("/admin/login/", [anonymous]))

    accepted = []
    for path, clients in paths:
        for client in clients:
            response = client.post(path, {"name": "forged"})
            if response.status_code != 403:
                accepted.append(f"POST {path}: {response.status_code}")
    assert accepted == []
    assert len(paths) > 25
