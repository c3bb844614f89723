"""The peers' paths, each under its own prefix: a client changes only its base URL
(``https://cpaas.messagecentral.com`` -> ``<ours>/compat/verifynow``,
``https://api.octopush.com`` -> ``<ours>/compat/octopush``)."""

from django.urls import path, re_path

from . import octopush, verifynow

app_name = "compat"
urlpatterns = [
    path("verifynow/auth/v1/authentication/token", verifynow.token, name="verifynow-token"),
    path("verifynow/verification/v2/verification/send", verifynow.send, name="verifynow-send"),
    path(
        "verifynow/verification/v2/verification/validateOtp",
        verifynow.validate,
        name="verifynow-validate",
    ),
    path("verifynow/verification/v3/send", verifynow.send, name="verifynow-send-v3"),
    path("verifynow/verification/v3/validateOtp", verifynow.validate, name="verifynow-validate-v3"),
    path("octopush/v1/public/service/otp/generate", octopush.generate, name="octopush-generate"),
    path("octopush/v1/public/service/otp/validate", octopush.validate, name="octopush-validate"),
    re_path(r"^verifynow/", verifynow.not_found, name="verifynow-not-found"),
    re_path(r"^octopush/", octopush.not_found, name="octopush-not-found"),
]
