from django.apps import AppConfig


class OtpConfig(AppConfig):
    name = "otp"
    verbose_name = "OTP"

    def ready(self) -> None:
        from . import schema  # noqa: F401 - registers the OpenAPI auth extension
