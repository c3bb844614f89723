from django.apps import AppConfig


class OtpConfig(AppConfig):
    name = "otp"
    verbose_name = "OTP"

    def ready(self) -> None:
        from gateways.services import message_delivered, message_failed

        from . import fallbacks, schema, webhooks  # noqa: F401 - schema registers the auth scheme

        message_failed.connect(fallbacks.message_not_delivered, dispatch_uid="otp-fail")
        message_delivered.connect(webhooks.message_delivered_received, dispatch_uid="otp-dlr")
        # Budget alerts (issue 13's ``budget_alert`` signal) reach the webhooks through
        # ``webhooks.budget_alert_received``: connect it here when the signal lands.
        from . import stream_cache

        stream_cache.connect()
