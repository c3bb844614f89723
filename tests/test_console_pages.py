"""The console's own pages where Django's would show: errors, sign-in and password
reset, the admin's frame; and the controls that replace native ones."""

import pytest
from django.template.loader import render_to_string

from tests.support import factories

pytestmark = pytest.mark.django_db


def test_a_missing_page_is_the_consoles_404(client, owner):
    client.force_login(owner)
    response = client.get("/streams/00000000-0000-4000-8000-000000000000/")
    html = response.content.decode()
    assert response.status_code == 404
    assert 'id="error-404"' in html and "css/console.css" in html and 'class="mainnav"' in html
    api = client.get("/api/v1/nothing-here")
    assert api.status_code == 404 and api.json()["error"]["code"]  # the API keeps its shape


def test_a_forbidden_action_is_the_consoles_403(client, account):
    member = factories.make_user(account=account, role="developer")
    stream, _ = factories.make_stream(account)
    client.force_login(member)
    response = client.post(f"/streams/{stream.public_id}/rotate-token/")
    assert response.status_code == 403
    html = response.content.decode()
    assert 'id="error-403"' in html and "Only owners and admins can do this." in html


def test_the_500_page_needs_no_context_and_is_branded():
    html = render_to_string("500.html")
    assert 'id="error-500"' in html and "css/console.css" in html


def test_sign_in_and_password_reset_pages_are_the_consoles(client):
    for url in ("/accounts/login/", "/accounts/password_reset/", "/accounts/password_reset/done/"):
        html = client.get(url).content.decode()
        assert "auth-card" in html and "css/console.css" in html, url
    bad_link = client.get("/accounts/reset/MQ/set-password/", follow=True).content.decode()
    assert "has been used or has expired" in bad_link


def test_the_admin_wears_the_consoles_colours(client):
    html = client.get("/admin/login/").content.decode()
    assert "css/admin.css" in html and "operators" in html


def test_on_off_settings_are_switches(client, owner, account):
    client.force_login(owner)
    stream, _ = factories.make_stream(account, active=False)
    step2 = client.get(f"/streams/{stream.public_id}/step/2/").content.decode()
    step3 = client.get(f"/streams/{stream.public_id}/step/3/").content.decode()
    assert 'role="switch"' in step2 and 'class="check switch"' in step2
    assert 'role="switch"' in step3


def test_dangerous_actions_ask_first(client, owner, account):
    client.force_login(owner)
    stream, _ = factories.make_stream(account)
    html = client.get(f"/streams/{stream.public_id}/").content.decode()
    assert 'data-confirm-action="Disable"' in html and 'data-confirm-action="Rotate token"' in html
