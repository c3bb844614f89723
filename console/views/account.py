"""The account switcher: which of the user's accounts the console works in."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from ..context import SESSION_KEY, account_view


@account_view(viewers_may_post=True)  # signed out: to the sign-in page first, as every page
@require_POST
def switch_account(request):
    wanted = request.POST.get("account")
    membership = next((m for m in request.memberships if str(m.account_id) == wanted), None)
    if membership is None:
        raise Http404
    request.session[SESSION_KEY] = membership.account_id  # the session is the console's own
    messages.success(request, f"Now working in {membership.account.name}.")
    return redirect("console:overview")
