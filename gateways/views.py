"""Delivery reports from providers: one URL per gateway, carrying its secret."""

import hmac
import logging

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from . import services
from .adapters import ReceiptRefused, adapter_for
from .models import Gateway

log = logging.getLogger(__name__)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def receipt(request, gateway_id: int, secret: str):
    """Authenticated by the per-gateway secret in the URL and, where the provider signs
    its callbacks (Twilio, the webhook), by the signature too. Unknown messages are
    answered 200 (the provider must not retry forever) and logged."""
    gateway = get_object_or_404(Gateway, pk=gateway_id)
    if not hmac.compare_digest(secret, gateway.receipt_secret):
        raise Http404
    adapter = adapter_for(gateway)
    try:
        receipts = adapter.parse_receipt(request)
    except ReceiptRefused as exc:
        log.warning("delivery report refused for %s: %s", gateway.name, exc)
        return HttpResponse(f"refused: {exc}", status=403, content_type="text/plain")
    for item in receipts:
        services.apply_receipt(gateway, item)
    return adapter.receipt_response()
