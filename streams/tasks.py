"""Thin Celery tasks: ids in, services do the work; each may run twice without harm."""

from celery import shared_task

from . import contact_import, webhooks


@shared_task(name="streams.run_contact_import")
def run_contact_import_task(job_id: int) -> None:
    contact_import.run_contact_import(job_id)


@shared_task(name="streams.deliver_webhooks")
def deliver_webhooks_task(endpoint_id: int, chain: str) -> int:
    return webhooks.deliver_chain(endpoint_id, chain)


@shared_task(name="streams.sweep_webhooks")
def sweep_webhooks_task() -> int:
    return webhooks.sweep()
