from django.apps import AppConfig


class GatewaysConfig(AppConfig):
    name = "gateways"
    verbose_name = "Gateways"

    def ready(self) -> None:
        # Registers the Celery tasks: services publish the delivery task by its name.
        from . import routes, tasks  # noqa: F401

        routes.connect()
