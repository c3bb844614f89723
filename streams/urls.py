from django.urls import path
from django.views.generic import RedirectView

from . import views

app_name = "streams"
urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False), name="home"),
    path("outbox/", views.outbox, name="outbox"),
]
