"""The current account: every console page works inside one account of the user's,
chosen in the session (the account switcher), and sees only that account's objects."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from .models import Membership

SESSION_KEY = "account_id"


def memberships_of(user) -> list[Membership]:
    return list(
        Membership.objects.filter(user=user).select_related("account").order_by("account__name")
    )


def account_view(view=None, *, manage: bool = False):
    """Sign-in required; sets ``request.account`` and ``request.membership``. With
    ``manage``, only owners and admins may use the view."""

    def decorate(func):
        @login_required
        @wraps(func)
        def wrapper(request, *args, **kwargs):
            memberships = memberships_of(request.user)
            if not memberships:
                return render(request, "streams/no_account.html", status=403)
            chosen = request.session.get(SESSION_KEY)
            membership = next((m for m in memberships if m.account_id == chosen), memberships[0])
            request.membership = membership
            request.account = membership.account
            request.memberships = memberships
            if manage and not membership.can_manage:
                raise PermissionDenied("Only owners and admins can do this.")
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
