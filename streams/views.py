"""The console's pages. Thin: they read through selectors, write through services."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from . import selectors


@login_required
def outbox(request):
    """The development outbox: what the console gateway 'sent' to the user's accounts."""
    messages = selectors.outbox_messages(request.user)
    page = Paginator(messages, 50).get_page(request.GET.get("page"))
    return render(request, "streams/outbox.html", {"page_obj": page})
