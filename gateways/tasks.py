from celery import shared_task

from . import services


@shared_task(name="gateways.deliver_message")
def deliver_message_task(message_id: str) -> str | None:
    return services.deliver_message(message_id)
