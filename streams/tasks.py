"""Thin Celery tasks: ids in, services do the work; each may run twice without harm."""

from celery import shared_task

from . import contact_import


@shared_task(name="streams.run_contact_import")
def run_contact_import_task(job_id: int) -> None:
    contact_import.run_contact_import(job_id)
