"""The account's routing rules: which gateways carry its messages, the route tester
("which gateway would this number use?") and what the learning rules decided. Every
member reads them; owners and admins change them."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from gateways import rules
from gateways import selectors as gateway_selectors
from streams import phones

from ..context import account_view
from ..route_forms import RouteRuleForm, RouteTesterForm


@account_view
def route_list(request):
    tester = RouteTesterForm(request.GET or None, account=request.account)
    explained = None
    if tester.is_valid():
        try:
            explained = gateway_selectors.explain_route(
                account=request.account,
                stream=tester.cleaned_data["stream"],
                channel=tester.cleaned_data["channel"],
                number=tester.cleaned_data["number"],
            )
        except phones.PhoneNumberError:
            tester.add_error("number", "Not a valid phone number in international form.")
    context = {
        "tester": tester,
        "explained": explained,
        "rules": gateway_selectors.account_rules(request.account),
        "platform_rules": gateway_selectors.platform_rules(),
        "decisions": gateway_selectors.decisions_of(request.account),
        "can_manage": request.membership.can_manage,
        "currency": settings.OTP_CURRENCY,
    }
    return render(request, "console/routes.html", context, status=400 if tester.errors else 200)


@account_view
def route_edit(request, pk: int | None = None):
    rule = None
    if pk is not None:
        rule = get_object_or_404(gateway_selectors.rules_of(request.account), pk=pk)
    can_manage = request.membership.can_manage
    if request.method == "POST" and not can_manage:
        raise PermissionDenied("Only owners and admins change routes.")
    form = RouteRuleForm(
        request.POST if request.method == "POST" else None,
        instance=rule,
        account=request.account,
        read_only=not can_manage,
    )
    if request.method == "POST" and form.is_valid():
        try:
            saved = rules.save_route_rule(
                account=request.account,
                rule=rule,
                fields=form.rule_fields(),
                hops=form.cleaned_data["hops"],
                by=request.membership,
            )
        except ValidationError as exc:
            _show_errors(form, exc)
        else:
            messages.success(request, f"Rule “{saved}” saved.")
            return redirect("console:routes")
    context = {"form": form, "rule": rule, "can_manage": can_manage}
    return render(request, "console/route_form.html", context, status=400 if form.errors else 200)


@require_POST
@account_view(manage=True)
def route_delete(request, pk: int):
    rule = get_object_or_404(gateway_selectors.rules_of(request.account), pk=pk)
    rules.delete_route_rule(rule=rule, by=request.membership)
    messages.success(request, f"Rule “{rule}” deleted.")
    return redirect("console:routes")


def _show_errors(form: RouteRuleForm, exc: ValidationError) -> None:
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)
