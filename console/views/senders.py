"""The account's sender IDs: list and add, edit, delete."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from streams import selectors, services

from ..context import account_view
from ..forms import SenderForm


@account_view
def sender_list(request):
    form = SenderForm(request.POST or None, account=request.account)
    if request.method == "POST" and form.is_valid():
        sender = services.save_sender(
            account=request.account,
            value=form.cleaned_data["value"],
            kind=form.cleaned_data["kind"],
        )
        messages.success(request, f"Sender ID “{sender.value}” added.")
        return redirect("console:senders")
    senders = selectors.account_senders(request.account)
    status = 400 if form.errors else 200
    return render(
        request, "console/senders.html", {"form": form, "senders": senders}, status=status
    )


@account_view
def sender_edit(request, pk: int):
    sender = get_object_or_404(selectors.account_senders(request.account), pk=pk)
    form = SenderForm(request.POST or None, instance=sender, account=request.account)
    if request.method == "POST" and form.is_valid():
        services.save_sender(
            account=request.account,
            sender=sender,
            value=form.cleaned_data["value"],
            kind=form.cleaned_data["kind"],
        )
        messages.success(request, "Sender ID saved.")
        return redirect("console:senders")
    status = 400 if form.errors else 200
    return render(
        request, "console/sender_form.html", {"form": form, "sender": sender}, status=status
    )


@require_POST
@account_view
def sender_delete(request, pk: int):
    sender = get_object_or_404(selectors.account_senders(request.account), pk=pk)
    try:
        services.delete_sender(sender=sender)
    except services.Refused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"Sender ID “{sender.value}” deleted.")
    return redirect("console:senders")
