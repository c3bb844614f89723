"""The development outbox page: where a newcomer sees the code arrive."""

import pytest

from tests.support import factories
from tests.support.otp_client import OtpClient, code_from

pytestmark = pytest.mark.usefixtures("eager_tasks")


def test_outbox_shows_the_code_sent_to_my_account_only(client, account, owner):
    _, token = factories.make_stream(account, default_sender=factories.make_sender(account))
    other = factories.make_account()
    _, other_token = factories.make_stream(other, default_sender=factories.make_sender(other))
    OtpClient(token).send(recipient="+14155552671")
    OtpClient(other_token).send(recipient="+14155550123")

    client.login(username=owner.username, password=factories.PASSWORD)
    page = client.get("/outbox/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "+14155552671" in html
    assert "+14155550123" not in html
    from gateways.models import OutboundMessage

    mine = OutboundMessage.objects.get(recipient="+14155552671")
    assert code_from(mine.text) in html


def test_outbox_needs_sign_in(client):
    response = client.get("/outbox/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_sign_in_page_signs_in(client, owner):
    assert client.get("/accounts/login/").status_code == 200
    response = client.post(
        "/accounts/login/", {"username": owner.username, "password": factories.PASSWORD}
    )
    assert response.status_code == 302
    assert client.get("/outbox/").status_code == 200
