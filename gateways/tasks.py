"""Thin Celery tasks: ids in, services do the work; each may run twice without harm."""

from celery import shared_task
from celery.signals import worker_process_shutdown

from . import learning, services
from .adapters import Receipt, smpp


@shared_task(name="gateways.deliver_message")
def deliver_message_task(message_id: str) -> str | None:
    return services.deliver_message(message_id)


@shared_task(name="gateways.deliver_batch")
def deliver_batch_task(channel: str) -> int:
    return services.deliver_batch(channel=channel)


@shared_task(name="gateways.apply_smpp_receipt", bind=True, max_retries=5, default_retry_delay=2)
def apply_smpp_receipt_task(
    self,
    gateway_id: int,
    account: list,
    provider_message_id: str,
    status: str,
    error: str,
    raw_status: str,
) -> str | None:
    """A delivery receipt an SMPP session read from its bind (``deliver_sm``). One for
    a message not known yet is tried again a few times: the SMSC may hand it to
    another process's bind before the sender recorded the send."""
    receipt = Receipt(provider_message_id, status, error=error, raw_status=raw_status)
    applied = services.apply_bound_receipt(gateway_id, account, receipt)
    if applied is None and not self.request.is_eager:
        raise self.retry()
    return applied


@shared_task(name="gateways.requeue_stale_messages")
def requeue_stale_messages_task() -> int:
    return services.requeue_stale_messages()


@shared_task(name="gateways.forget_expired_codes")
def forget_expired_codes_task() -> int:
    return services.forget_expired_codes()


@shared_task(name="gateways.prune_messages")
def prune_messages_task() -> int:
    return services.prune_messages()


@shared_task(name="gateways.learn_routes")
def learn_routes_task() -> int:
    return len(learning.learn_routes())


@worker_process_shutdown.connect
def _unbind_smpp_sessions(**kwargs) -> None:
    """A worker process that stops unbinds from its SMSCs instead of dropping the link."""
    smpp.close_all()
