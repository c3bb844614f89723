"""The account's members: who has which role; owners and admins invite, change roles
and remove members (streams.services holds the rules: only owners make or remove
owners, an account keeps one owner)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.tokens import default_token_generator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.views.decorators.http import require_POST

from streams import selectors, services

from ..context import account_view
from ..forms import MemberInviteForm, MemberRoleForm


@account_view
def member_list(request):
    form = MemberInviteForm(request.POST or None)
    invitation_link = None
    status = 200
    if request.method == "POST":
        if not request.membership.can_manage:
            raise services.NotAllowed("Only owners and admins can invite members.")
        if form.is_valid():
            try:
                invitation = services.invite_member(
                    account=request.account,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    by=request.membership,
                )
            except services.Refused as refusal:
                form.add_error("email", str(refusal))
            else:
                user = invitation.membership.user
                if invitation.new_user:
                    invitation_link = request.build_absolute_uri(_set_password_path(user))
                    messages.success(request, f"{user.email} invited: send them the link below.")
                else:
                    messages.success(request, f"{user.get_username()} added to the account.")
                    return redirect("console:members")
        status = 400 if form.errors else 200
    return render(
        request,
        "console/members.html",
        {
            "form": form,
            "members": selectors.account_members(request.account),
            "invitation_link": invitation_link,
            "role_form": MemberRoleForm(),
        },
        status=status,
    )


def _set_password_path(user) -> str:
    """The invitation link: Django's password reset confirmation, so the invited user
    chooses their password and the link stops working once used."""
    return reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )


@require_POST
@account_view(manage=True)
def member_role(request, pk: int):
    membership = get_object_or_404(selectors.account_members(request.account), pk=pk)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a role.")
        return redirect("console:members")
    try:
        services.change_member_role(
            membership=membership, role=form.cleaned_data["role"], by=request.membership
        )
    except services.Refused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"{membership.user.get_username()} is now {membership.role}.")
    return redirect("console:members")


@require_POST
@account_view(manage=True)
def member_remove(request, pk: int):
    membership = get_object_or_404(selectors.account_members(request.account), pk=pk)
    try:
        services.remove_member(membership=membership, by=request.membership)
    except services.Refused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"{membership.user.get_username()} removed.")
    return redirect("console:members")
