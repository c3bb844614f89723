from django.urls import path

from . import views

app_name = "streams"
urlpatterns = [
    path("", views.stream_list, name="list"),
    path("streams/new/", views.stream_new, name="new"),
    path("streams/new/otp/", views.wizard, name="wizard_new"),
    path("streams/<uuid:public_id>/", views.stream_detail, name="detail"),
    path("streams/<uuid:public_id>/step/<int:step>/", views.wizard, name="wizard"),
    path("streams/<uuid:public_id>/toggle/", views.stream_toggle, name="toggle"),
    path("streams/<uuid:public_id>/rotate-token/", views.stream_rotate, name="rotate"),
    path("senders/", views.sender_list, name="senders"),
    path("senders/<int:pk>/", views.sender_edit, name="sender_edit"),
    path("senders/<int:pk>/delete/", views.sender_delete, name="sender_delete"),
    path("contacts/", views.contact_list, name="contacts"),
    path("contacts/new/", views.contact_edit, name="contact_new"),
    path("contacts/import/", views.contact_import, name="contact_import"),
    path("contacts/<int:pk>/", views.contact_edit, name="contact_edit"),
    path("contacts/<int:pk>/delete/", views.contact_delete, name="contact_delete"),
    path("account/switch/", views.switch_account, name="switch_account"),
    path("outbox/", views.outbox, name="outbox"),
]
