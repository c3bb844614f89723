from django.apps import AppConfig


class StreamsConfig(AppConfig):
    name = "streams"
    verbose_name = "Streams"

    def ready(self) -> None:
        from . import auth  # noqa: F401 - connects the sign-in throttling signals
