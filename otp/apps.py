from django.apps import AppConfig


class OtpConfig(AppConfig):
    name = "otp"
    verbose_name = "OTP"

    def ready(self) -> None:
        from gateways.services import message_failed

        from . import housekeeping, schema  # noqa: F401 - schema registers the auth scheme

        message_failed.connect(housekeeping.fail_verification, dispatch_uid="otp-fail")
        from . import stream_cache

        stream_cache.connect()
