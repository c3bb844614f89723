"""The benchmark's own views (``OTP_BENCH_CEILING`` only): the realistic limit."""

from django.urls import path

from . import views

urlpatterns = [
    path("raw/send", views.raw_send, name="bench-raw-send"),
    path("raw/verify", views.raw_verify, name="bench-raw-verify"),
]
