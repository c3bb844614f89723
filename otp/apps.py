from django.apps import AppConfig


class OtpConfig(AppConfig):
    name = "otp"
    verbose_name = "OTP"

    def ready(self) -> None:
        from gateways.services import message_delivered, message_failed

        from . import budgets, fallbacks, schema, webhooks  # noqa: F401 - schema registers the auth scheme

        message_failed.connect(fallbacks.message_not_delivered, dispatch_uid="otp-fail")
        message_delivered.connect(webhooks.message_delivered_received, dispatch_uid="otp-dlr")
        budgets.budget_alert.connect(webhooks.budget_alert_received, dispatch_uid="otp-budget")
        from . import stream_cache

        stream_cache.connect()
