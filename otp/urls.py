from django.urls import path

from . import views

app_name = "otp"
urlpatterns = [
    path("otp/send", views.SendView.as_view(), name="send"),
    path("otp/verify", views.VerifyView.as_view(), name="verify"),
    path("otp/<uuid:verification_id>", views.VerificationView.as_view(), name="verification"),
    path("otp/<uuid:verification_id>/cancel", views.CancelView.as_view(), name="cancel"),
    path("otp/<uuid:verification_id>/resend", views.ResendView.as_view(), name="resend"),
    path("analytics", views.AnalyticsView.as_view(), name="analytics"),
]
