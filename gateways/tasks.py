"""Thin Celery tasks: ids in, services do the work; each may run twice without harm."""

from celery import shared_task

from . import learning, services


@shared_task(name="gateways.deliver_message")
def deliver_message_task(message_id: str) -> str | None:
    return services.deliver_message(message_id)


@shared_task(name="gateways.deliver_batch")
def deliver_batch_task(channel: str) -> int:
    return services.deliver_batch(channel=channel)


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
