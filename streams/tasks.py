"""Webhook delivery (celery): thin tasks over streams.webhooks."""

from celery import shared_task

from . import webhooks


@shared_task(name="streams.deliver_webhooks")
def deliver_webhooks_task(endpoint_id: int, chain: str) -> int:
    return webhooks.deliver_chain(endpoint_id, chain)


@shared_task(name="streams.sweep_webhooks")
def sweep_webhooks_task() -> int:
    return webhooks.sweep()
