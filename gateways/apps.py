from django.apps import AppConfig


class GatewaysConfig(AppConfig):
    name = "gateways"
    verbose_name = "Gateways"

    def ready(self) -> None:
        # Registers the Celery tasks: services publish the delivery task by its name.
        from . import tasks  # noqa: F401
