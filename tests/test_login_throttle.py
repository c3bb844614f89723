"""Password guessing against the sign-in form is cut off."""

import pytest
from django.core.cache import cache
from django.test import override_settings

from tests.support.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    yield
    cache.clear()


def sign_in(client, username, password, address="198.51.100.7"):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


def test_sixth_guess_is_refused_even_with_the_right_password(client, settings):
    user = make_user(is_staff=True)
    for _ in range(settings.LOGIN_FAILURES_PER_USER):
        assert sign_in(client, user.username, "wrong").status_code == 200
    response = sign_in(client, user.username, PASSWORD)
    assert response.status_code == 200  # the form again, not the redirect
    assert "_auth_user_id" not in client.session


def test_right_password_before_the_limit_signs_in_and_clears_the_count(client, settings):
    user = make_user(is_staff=True)
    for _ in range(settings.LOGIN_FAILURES_PER_USER - 1):
        sign_in(client, user.username, "wrong")
    assert sign_in(client, user.username, PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.LOGIN_FAILURES_PER_USER - 1):
        sign_in(client, user.username, "wrong")
    assert sign_in(client, user.username, PASSWORD).status_code == 302


def test_one_address_guessing_many_names_is_cut_off(client, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 3
    victim = make_user(is_staff=True)
    for n in range(3):
        sign_in(client, f"nobody{n}", "wrong", address="203.0.113.9")
    assert sign_in(client, victim.username, PASSWORD, address="203.0.113.9").status_code == 200
    # the same user from another address is not locked out by someone else's guessing
    assert sign_in(client, victim.username, PASSWORD, address="192.0.2.1").status_code == 302


def test_a_guesser_behind_the_proxy_does_not_lock_out_other_clients_of_that_proxy(client, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    user = make_user(is_staff=True)
    for n in range(settings.LOGIN_FAILURES_PER_ADDRESS + 2):
        response = client.post(
            "/admin/login/?next=/admin/",
            {"username": f"nobody{n}", "password": "wrong"},
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR="203.0.113.9",
        )
        assert response.status_code == 200
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": user.username, "password": PASSWORD},
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="192.0.2.1",
    )
    assert response.status_code == 302


def test_with_the_cache_down_sign_in_still_works_and_never_500s(client):
    user = make_user(is_staff=True)
    cache_down = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    with override_settings(CACHES=cache_down):
        assert sign_in(client, user.username, "wrong").status_code == 200
        assert sign_in(client, user.username, PASSWORD).status_code == 302
