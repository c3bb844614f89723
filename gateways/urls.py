from django.urls import path

from . import views

app_name = "gateways"
urlpatterns = [
    path("<int:gateway_id>/receipts/<str:secret>/", views.receipt, name="receipt"),
]
