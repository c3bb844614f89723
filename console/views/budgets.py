"""The account's budgets: what all its streams together may spend (owners and admins
change them; everyone in the account sees them and their use)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render

from otp import selectors as otp_selectors
from streams import selectors, services

from ..context import account_view
from ..forms import BudgetForm


@account_view
def account_budgets(request):
    can_manage = request.membership.can_manage
    form = BudgetForm(
        request.POST if request.method == "POST" else None,
        budgets=selectors.budgets_of(request.account),
        can_manage=can_manage,
        prefix="budget",
    )
    if request.method == "POST":
        if not can_manage or form.attempted_change():
            raise PermissionDenied("Only owners and admins change budgets.")
        if form.is_valid():
            services.save_budgets(
                account=request.account, limits=form.limits(), by=request.membership
            )
            messages.success(request, "The account's budgets are saved.")
            return redirect("console:budgets")
    context = {"form": form, "usage": otp_selectors.budget_usage(request.account)}
    return render(request, "console/budgets.html", context, status=400 if form.errors else 200)
