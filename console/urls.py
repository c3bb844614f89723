from django.urls import path

from .views import (
    account,
    budgets,
    contacts,
    members,
    outbox,
    overview,
    senders,
    streams,
    webhooks,
    wizard,
)

app_name = "console"
urlpatterns = [
    # The overview is the console's home: the first question is whether codes arrive.
    path("", overview.overview, name="overview"),
    path("streams/", streams.stream_list, name="list"),
    path("overview.csv", overview.overview_csv, name="overview_csv"),
    path("streams/new/", streams.stream_new, name="new"),
    path("streams/new/otp/", wizard.wizard, name="wizard_new"),
    path("streams/<uuid:public_id>/", streams.stream_detail, name="detail"),
    path("streams/<uuid:public_id>/step/<int:step>/", wizard.wizard, name="wizard"),
    path("streams/<uuid:public_id>/toggle/", streams.stream_toggle, name="toggle"),
    path("streams/<uuid:public_id>/rotate-token/", streams.stream_rotate, name="rotate"),
    path("streams/<uuid:public_id>/test-token/", streams.stream_test_token, name="test_token"),
    path(
        "streams/<uuid:public_id>/test-numbers/",
        streams.stream_test_numbers,
        name="test_numbers",
    ),
    path("streams/<uuid:public_id>/webhooks/", webhooks.endpoint_list, name="webhooks"),
    path(
        "streams/<uuid:public_id>/webhooks/<int:endpoint_pk>/",
        webhooks.endpoint_log,
        name="webhook_log",
    ),
    path(
        "streams/<uuid:public_id>/webhooks/<int:endpoint_pk>/toggle/",
        webhooks.endpoint_toggle,
        name="webhook_toggle",
    ),
    path(
        "streams/<uuid:public_id>/webhooks/<int:endpoint_pk>/delete/",
        webhooks.endpoint_delete,
        name="webhook_delete",
    ),
    path(
        "streams/<uuid:public_id>/webhooks/<int:endpoint_pk>/test/",
        webhooks.endpoint_test,
        name="webhook_test",
    ),
    path(
        "streams/<uuid:public_id>/webhooks/<int:endpoint_pk>/<int:delivery_pk>/redeliver/",
        webhooks.delivery_redeliver,
        name="webhook_redeliver",
    ),
    path("senders/", senders.sender_list, name="senders"),
    path("senders/<int:pk>/", senders.sender_edit, name="sender_edit"),
    path("senders/<int:pk>/delete/", senders.sender_delete, name="sender_delete"),
    path("contacts/", contacts.contact_list, name="contacts"),
    path("contacts/new/", contacts.contact_edit, name="contact_new"),
    path("contacts/import/", contacts.contact_import, name="contact_import"),
    path("contact-fields/", contacts.contact_fields, name="contact_fields"),
    path(
        "contact-fields/<int:pk>/delete/",
        contacts.contact_field_delete,
        name="contact_field_delete",
    ),
    path("contacts/import/<int:pk>/", contacts.contact_import_job, name="contact_import_job"),
    path("contacts/export.csv", contacts.contact_export, name="contact_export"),
    path("contacts/<int:pk>/", contacts.contact_edit, name="contact_edit"),
    path("contacts/<int:pk>/delete/", contacts.contact_delete, name="contact_delete"),
    path("account/switch/", account.switch_account, name="switch_account"),
    path("members/", members.member_list, name="members"),
    path("members/<int:pk>/role/", members.member_role, name="member_role"),
    path("members/<int:pk>/remove/", members.member_remove, name="member_remove"),
    path("outbox/", outbox.outbox, name="outbox"),
    path("budgets/", budgets.account_budgets, name="budgets"),
]
