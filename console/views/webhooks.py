"""A stream's webhook endpoints: add, enable/disable, delete; each endpoint's delivery
log with manual redelivery and a test event."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from streams import selectors, services

from ..context import account_view
from ..forms import EndpointForm


def _stream(request, public_id):
    return get_object_or_404(selectors.account_streams(request.account), public_id=public_id)


def _endpoint(request, public_id, endpoint_pk):
    stream = _stream(request, public_id)
    return stream, get_object_or_404(selectors.stream_webhook_endpoints(stream), pk=endpoint_pk)


@account_view
def endpoint_list(request, public_id):
    stream = _stream(request, public_id)
    form = EndpointForm(request.POST or None)
    if request.method == "POST":
        if not request.membership.can_manage:
            messages.error(request, "Only owners and admins can add endpoints.")
            return redirect("console:webhooks", public_id=public_id)
        if form.is_valid():
            try:
                services.save_webhook_endpoint(stream=stream, url=form.cleaned_data["url"])
            except services.Refused as refusal:
                form.add_error("url", str(refusal))
            else:
                messages.success(request, "Endpoint added: events are sent to it from now on.")
                return redirect("console:webhooks", public_id=public_id)
    context = {
        "stream": stream,
        "form": form,
        "endpoints": selectors.stream_webhook_endpoints(stream),
    }
    return render(request, "console/webhooks.html", context)


@account_view
def endpoint_log(request, public_id, endpoint_pk: int):
    stream, endpoint = _endpoint(request, public_id, endpoint_pk)
    context = {
        "stream": stream,
        "endpoint": endpoint,
        "deliveries": selectors.endpoint_deliveries(endpoint)[:50],
    }
    return render(request, "console/webhook_log.html", context)


@require_POST
@account_view(manage=True)
def endpoint_toggle(request, public_id, endpoint_pk: int):
    stream, endpoint = _endpoint(request, public_id, endpoint_pk)
    enabled = request.POST.get("enabled") == "1"
    services.save_webhook_endpoint(
        stream=stream, url=endpoint.url, enabled=enabled, endpoint=endpoint
    )
    return redirect("console:webhooks", public_id=public_id)


@require_POST
@account_view(manage=True)
def endpoint_delete(request, public_id, endpoint_pk: int):
    _, endpoint = _endpoint(request, public_id, endpoint_pk)
    services.delete_webhook_endpoint(endpoint=endpoint)
    messages.success(request, "Endpoint deleted.")
    return redirect("console:webhooks", public_id=public_id)


@require_POST
@account_view
def endpoint_test(request, public_id, endpoint_pk: int):
    _, endpoint = _endpoint(request, public_id, endpoint_pk)
    services.send_test_webhook(endpoint=endpoint)
    messages.success(request, "Test event sent.")
    return redirect("console:webhook_log", public_id=public_id, endpoint_pk=endpoint_pk)


@require_POST
@account_view
def delivery_redeliver(request, public_id, endpoint_pk: int, delivery_pk: int):
    _, endpoint = _endpoint(request, public_id, endpoint_pk)
    delivery = get_object_or_404(selectors.endpoint_deliveries(endpoint), pk=delivery_pk)
    services.redeliver_webhook(delivery=delivery)
    messages.success(request, "Redelivery queued.")
    return redirect("console:webhook_log", public_id=public_id, endpoint_pk=endpoint_pk)
