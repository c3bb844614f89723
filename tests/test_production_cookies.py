"""Session and CSRF cookies in production: sent only over HTTPS, the session cookie out
of reach of scripts, both same-site. Proven on the settings the production
environment of docs/configuration.md gives (the same one `check --deploy` passes in
test_setup.py) and on a real sign-in answer under them."""

from tests.support import factories
from tests.test_setup import PRODUCTION_ENV, settings_in_subprocess


def test_production_environment_makes_cookies_secure(tmp_path):
    out = settings_in_subprocess(
        {**PRODUCTION_ENV, "VAR_DIR": str(tmp_path)},
        "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE, "
        "s.CSRF_COOKIE_SAMESITE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS)",
    )
    assert out == "True True True Lax Lax True 31536000"


def test_sign_in_under_production_cookie_settings_sets_secure_cookies(client, owner, settings):
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    page = client.get("/accounts/login/", secure=True)
    assert page.cookies["csrftoken"]["secure"]
    response = client.post(
        "/accounts/login/",
        {"username": owner.username, "password": factories.PASSWORD},
        secure=True,
    )
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"
