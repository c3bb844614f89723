"""Sign-in throttling against password guessing.

Failures are counted per user name and per client address in the cache (Redis in
production, so every web node sees the same counts). Past the limit, sign-in is
refused for that name or address until the window ends, whatever the password: a
guesser learns nothing, and a correct password does not reset a locked window.
"""

import logging

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver

log = logging.getLogger(__name__)


def _keys(username: str | None, request) -> list[str]:
    keys = []
    if username:
        keys.append(f"login-fail:user:{username.strip().lower()}")
    address = request.META.get("REMOTE_ADDR") if request is not None else None
    if address:
        keys.append(f"login-fail:ip:{address}")
    return keys


def _limit(key: str) -> int:
    if key.startswith("login-fail:ip:"):
        return settings.LOGIN_FAILURES_PER_ADDRESS
    return settings.LOGIN_FAILURES_PER_USER


def sign_in_locked(username: str | None, request) -> bool:
    keys = _keys(username, request)
    counts = cache.get_many(keys)
    return any(counts.get(key, 0) >= _limit(key) for key in keys)


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
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    for key in _keys(credentials.get("username"), request):
        if not cache.add(key, 1, window):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, window)


@receiver(user_logged_in)
def forget_failures(sender, request, user, **kwargs) -> None:
    cache.delete(f"login-fail:user:{user.get_username().strip().lower()}")
