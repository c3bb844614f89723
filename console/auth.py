"""Sign-in throttling against password guessing.

Failures are counted per user name and per client address by the shared fixed-window
counter (``streams.ratelimit``; Redis in production, so every web node sees the same
counts). Past the limit, sign-in is refused for that name or address until the window
ends, whatever the password: a guesser learns nothing, and a correct password does not
reset a locked window.
"""

import logging

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver

from streams import ratelimit
from streams.clients import client_address

log = logging.getLogger(__name__)


USER_SCOPE = "sign-in-failures:user"
ADDRESS_SCOPE = "sign-in-failures:address"


def _counters(username: str | None, request) -> list[tuple[str, str, int]]:
    """(scope, identity, limit) of each failure counter this attempt falls under. The
    address is the client's as ``streams.clients`` reads it (trusted proxies only), so
    behind a proxy one guesser does not lock every user out."""
    counters = []
    if username:
        counters.append((USER_SCOPE, _user_identity(username), settings.LOGIN_FAILURES_PER_USER))
    address = client_address(request) if request is not None else ""
    if address:
        counters.append((ADDRESS_SCOPE, address, settings.LOGIN_FAILURES_PER_ADDRESS))
    return counters


def _user_identity(username: str) -> str:
    return username.strip().lower()


def sign_in_locked(username: str | None, request) -> bool:
    period = settings.LOGIN_FAILURE_WINDOW_SECONDS
    return any(
        ratelimit.count(scope, identity, period=period) >= limit
        for scope, identity, limit in _counters(username, request)
    )


class ThrottledModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if sign_in_locked(username, request):
            if request is not None:
                request.sign_in_locked = True
            log.warning("sign-in refused: too many failures (user %r)", username)
            raise PermissionDenied  # stops the backend chain; counted as a failure
        return super().authenticate(request, username=username, password=password, **kwargs)


@receiver(user_login_failed)
def count_failure(sender, credentials, request=None, **kwargs) -> None:
    period = settings.LOGIN_FAILURE_WINDOW_SECONDS
    for scope, identity, limit in _counters(credentials.get("username"), request):
        ratelimit.hit(scope, identity, limit=limit, period=period)


@receiver(user_logged_in)
def forget_failures(sender, request, user, **kwargs) -> None:
    identity = _user_identity(user.get_username())
    ratelimit.reset(USER_SCOPE, identity, period=settings.LOGIN_FAILURE_WINDOW_SECONDS)
