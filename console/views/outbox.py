"""The development outbox: what the console gateway "sent" for this account."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.shortcuts import render

from gateways import selectors as gateway_selectors

from ..context import account_view


@account_view
def outbox(request):
    messages_sent = gateway_selectors.outbox_messages(request.account)
    page = Paginator(messages_sent, 50).get_page(request.GET.get("page"))
    return render(request, "console/outbox.html", {"page_obj": page})
