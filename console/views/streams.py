"""The streams table, creating a stream, and a stream's page."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from otp import selectors as otp_selectors
from streams import selectors, services
from streams.models import Stream

from .. import previews
from ..context import account_view
from ..filters import PeriodForm, StreamFilter
from ..forms import TestNumbersForm


@account_view
def stream_list(request):
    streams = selectors.account_streams(request.account)
    filtered = StreamFilter(request.GET, queryset=streams, account=request.account)
    page = Paginator(filtered.qs, 20).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "console/list.html",
        {"filter": filtered, "page_obj": page, "query": query.urlencode()},
    )


@account_view
def stream_new(request):
    """Create stream: choose the stream type (OTP is the one type today)."""
    if request.method == "POST":
        if request.POST.get("type") == "otp":
            return redirect("console:wizard_new")
        messages.error(request, "Choose a stream type.")
    return render(request, "console/new.html")


# A rotated token waits in the session for the page that shows it: POST, redirect,
# GET, so reloading the page neither rotates again nor shows the token twice.
NEW_TOKEN_SESSION_KEY = "new_token:{}"  # noqa: S105 - a session key, not a secret
NEW_TEST_TOKEN_SESSION_KEY = "new_test_token:{}"  # noqa: S105 - a session key, not a secret


@account_view
def stream_detail(request, public_id):
    stream = get_object_or_404(selectors.account_streams(request.account), public_id=public_id)
    token = request.session.pop(NEW_TOKEN_SESSION_KEY.format(stream.public_id), None)
    test_token = request.session.pop(NEW_TEST_TOKEN_SESSION_KEY.format(stream.public_id), None)
    title = "New test token" if test_token and not token else ""
    token = token or test_token
    context = _detail_context(request, stream, token, token_title=title)
    status = 400 if context["period_form"].errors else 200
    response = render(request, "console/detail.html", context, status=status)
    if token:
        response["Cache-Control"] = "no-store"  # the token must not come back from a cache
    return response


def _stream_numbers(request, stream: Stream) -> dict:
    """The stream's numbers for the period asked in the query (the overview's, for the
    stream alone; none for a draft, which has sent nothing), and the query that shows
    the same period in the overview and its CSV."""
    form = PeriodForm(request.GET)
    period = {name: value for name, value in request.GET.items() if name in form.fields and value}
    numbers = None
    if stream.status != Stream.Status.DRAFT and form.is_valid():
        filters = form.filters(now=timezone.now(), stream_ids=(stream.pk,))
        numbers = otp_selectors.analytics_overview(request.account, filters)
    query = urlencode({"stream": stream.pk, **period})
    return {"period_form": form, "numbers": numbers, "numbers_query": query}


def _detail_context(
    request, stream: Stream, token: str | None = None, test_form=None, token_title: str = ""
) -> dict:
    return {
        **_stream_numbers(request, stream),
        "stream": stream,
        "test_numbers_form": test_form or TestNumbersForm.for_stream(stream),
        "token_title": token_title or "New API token",
        "templates": stream.templates.all(),
        "message_previews": previews.message_previews(stream),
        "verifications": otp_selectors.recent_verifications(stream),
        "decisions": otp_selectors.recent_decisions(stream),
        "budget_usage": otp_selectors.budget_usage(request.account, stream),
        "account_budget_usage": otp_selectors.budget_usage(request.account),
        "new_token": token,
        "previews": previews.api_previews(request, stream),
        "changes": selectors.stream_changes(stream)[:50],
    }


@require_POST
@account_view(manage=True)
def stream_toggle(request, public_id):
    stream = get_object_or_404(selectors.account_streams(request.account), public_id=public_id)
    enabled = request.POST.get("enabled") == "1"
    try:
        services.set_stream_enabled(stream=stream, enabled=enabled, by=request.membership)
    except services.Refused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"“{stream.name}” is {'enabled' if enabled else 'disabled'}.")
    return redirect("console:detail", public_id=stream.public_id)


@require_POST
@account_view(manage=True)
def stream_rotate(request, public_id):
    stream = get_object_or_404(selectors.account_streams(request.account), public_id=public_id)
    try:
        token = services.rotate_token(stream=stream, by=request.membership)
    except services.Refused as refusal:
        messages.error(request, str(refusal))
        return redirect("console:detail", public_id=stream.public_id)
    request.session[NEW_TOKEN_SESSION_KEY.format(stream.public_id)] = token
    return redirect("console:detail", public_id=stream.public_id)


@require_POST
@account_view(manage=True)
def stream_test_token(request, public_id):
    """Issue the stream's test token (shown once), for test mode."""
    stream = get_object_or_404(selectors.account_streams(request.account), public_id=public_id)
    try:
        token = services.issue_test_token(stream=stream)
    except services.Refused as refusal:
        messages.error(request, str(refusal))
        return redirect("console:detail", public_id=stream.public_id)
    request.session[NEW_TEST_TOKEN_SESSION_KEY.format(stream.public_id)] = token
    return redirect("console:detail", public_id=stream.public_id)


@require_POST
@account_view(manage=True)
def stream_test_numbers(request, public_id):
    stream = get_object_or_404(selectors.account_streams(request.account), public_id=public_id)
    form = TestNumbersForm(request.POST)
    if form.is_valid():
        try:
            services.save_test_numbers(stream=stream, numbers=form.cleaned_data["numbers"])
        except services.Refused as refusal:
            form.add_error("numbers", str(refusal))
        else:
            messages.success(request, "Test numbers saved.")
            return redirect("console:detail", public_id=stream.public_id)
    context = _detail_context(request, stream, test_form=form)
    return render(request, "console/detail.html", context, status=400)
