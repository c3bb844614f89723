"""The account's contacts: list and search, add, edit, delete, import from CSV; their
custom fields."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from streams import selectors, services

from ..context import account_view
from ..forms import ContactFieldForm, ContactForm, ContactImportForm


@account_view
def contact_list(request):
    search = request.GET.get("q", "").strip()
    contacts = selectors.account_contacts(request.account, search)
    page = Paginator(contacts, 50).get_page(request.GET.get("page"))
    fields = list(request.account.contact_fields.all())
    return render(
        request,
        "console/contacts.html",
        {"page_obj": page, "fields": fields, "q": search, "query": f"q={search}" if search else ""},
    )


@account_view
def contact_edit(request, pk: int | None = None):
    contacts = selectors.account_contacts(request.account)
    contact = get_object_or_404(contacts, pk=pk) if pk else None
    form = ContactForm(request.POST or None, instance=contact, account=request.account)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        services.save_contact(
            account=request.account,
            contact=contact,
            phone=data["phone"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            custom_fields=data["custom_fields"],
        )
        messages.success(request, "Contact saved.")
        return redirect("console:contacts")
    status = 400 if form.errors else 200
    return render(
        request, "console/contact_form.html", {"form": form, "contact": contact}, status=status
    )


@require_POST
@account_view
def contact_delete(request, pk: int):
    contact = get_object_or_404(selectors.account_contacts(request.account), pk=pk)
    services.delete_contact(contact=contact)
    messages.success(request, "Contact deleted.")
    return redirect("console:contacts")


@account_view
def contact_import(request):
    report = None
    form = ContactImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        report = services.import_contacts(
            account=request.account,
            rows=form.cleaned_data["file"],
            country=form.cleaned_data["country"],
        )
    status = 400 if form.errors else 200
    return render(
        request, "console/contact_import.html", {"form": form, "report": report}, status=status
    )


@account_view
def contact_fields(request):
    """The account's custom contact fields: add one, or delete one no template uses."""
    form = ContactFieldForm(request.POST or None, account=request.account)
    if request.method == "POST" and form.is_valid():
        field = services.add_contact_field(
            account=request.account,
            key=form.cleaned_data["key"],
            name=form.cleaned_data["name"],
        )
        messages.success(request, f"Field “{field.name}” added: use it as {{{{{field.key}}}}}.")
        return redirect("console:contact_fields")
    status = 400 if form.errors else 200
    fields = selectors.account_contact_fields(request.account)
    return render(
        request, "console/contact_fields.html", {"form": form, "fields": fields}, status=status
    )


@require_POST
@account_view
def contact_field_delete(request, pk: int):
    field = get_object_or_404(selectors.account_contact_fields(request.account), pk=pk)
    try:
        services.delete_contact_field(contact_field=field)
    except services.Refused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"Field “{field.name}” deleted.")
    return redirect("console:contact_fields")
