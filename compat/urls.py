"""The peers' paths, each under its own prefix: a client changes only its base URL
(``https://cpaas.messagecentral.com`` -> ``<ours>/compat/verifynow``,
``https://api.octopush.com`` -> ``<ours>/compat/octopush``)."""

from django.urls import path, re_path

from . import octopush, verifynow

app_name = "compat"
urlpatterns = [
    path(
        "verifynow/auth/v1/authentication/token",
        verifynow.TokenView.as_view(),
        name="verifynow-token",
    ),
    path(
        "verifynow/verification/v2/verification/send",
        verifynow.SendView.as_view(),
        name="verifynow-send",
    ),
    path(
        "verifynow/verification/v2/verification/validateOtp",
        verifynow.ValidateView.as_view(),
        name="verifynow-validate",
    ),
    path("verifynow/verification/v3/send", verifynow.SendView.as_view(), name="verifynow-send-v3"),
    path(
        "verifynow/verification/v3/validateOtp",
        verifynow.ValidateView.as_view(),
        name="verifynow-validate-v3",
    ),
    path(
        "octopush/v1/public/service/otp/generate",
        octopush.GenerateView.as_view(),
        name="octopush-generate",
    ),
    path(
        "octopush/v1/public/service/otp/validate",
        octopush.ValidateView.as_view(),
        name="octopush-validate",
    ),
    re_path(r"^verifynow/", verifynow.NotFoundView.as_view(), name="verifynow-not-found"),
    re_path(r"^octopush/", octopush.NotFoundView.as_view(), name="octopush-not-found"),
]
