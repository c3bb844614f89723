"""The current account: every console page works inside one account of the user's,
chosen in the session (the account switcher), and sees only that account's objects."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from streams.selectors import memberships_of

SESSION_KEY = "account_id"


def account_view(view=None, *, manage: bool = False, viewers_may_post: bool = False):
    """Sign-in required; sets ``request.account`` and ``request.membership``. With
    ``manage``, only owners and admins may use the view. Viewers only read: their
    POSTs are refused (403) unless ``viewers_may_post`` (the account switcher). What a
    developer may change, the services decide (``streams.services.NotAllowed``)."""

    def decorate(func):
        # No console page may be kept by a browser or a proxy cache: they show API
        # tokens (once), codes in the outbox and contacts' personal data.
        @never_cache
        @login_required
        @wraps(func)
        def wrapper(request, *args, **kwargs):
            memberships = memberships_of(request.user)
            if not memberships:
                # Signed in but in no account yet: say how to get in, not a bare 403.
                return render(request, "console/no_account.html", status=403)
            chosen = request.session.get(SESSION_KEY)
            membership = next((m for m in memberships if m.account_id == chosen), memberships[0])
            request.membership = membership
            request.account = membership.account
            request.memberships = memberships
            if manage and not membership.can_manage:
                raise PermissionDenied("Only owners and admins can do this.")
            if request.method == "POST" and not membership.can_edit and not viewers_may_post:
                raise PermissionDenied("Viewers cannot change anything.")
            return func(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def console(request) -> dict:
    """Template context: the account switcher."""
    return {
        "current_account": getattr(request, "account", None),
        "current_membership": getattr(request, "membership", None),
        "memberships": getattr(request, "memberships", []),
    }
