from django.apps import AppConfig


class StreamsConfig(AppConfig):
    name = "streams"
    verbose_name = "Streams"

    def ready(self) -> None:
        # Registers the Celery tasks: the webhooks publish the delivery task by its name.
        from . import tasks  # noqa: F401
