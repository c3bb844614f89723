from django.apps import AppConfig


class OtpConfig(AppConfig):
    name = "otp"
    verbose_name = "OTP"

    def ready(self) -> None:
        from gateways.services import message_failed

        from . import fallbacks, schema  # noqa: F401 - schema registers the auth scheme

        message_failed.connect(fallbacks.message_not_delivered, dispatch_uid="otp-fail")
        from . import stream_cache

        stream_cache.connect()
