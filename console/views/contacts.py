"""The account's contacts: list and search, add, edit, delete, import from CSV; their
custom fields."""

from __future__ import annotations

import csv

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from streams import contact_import as imports
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
            locale=data["locale"],
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
    """Small files are imported at once and reported on this page; a large one is kept
    and imported by a worker, and the browser goes to its progress page."""
    report = None
    form = ContactImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data, parsed = form.cleaned_data["file"]
        country = form.cleaned_data["country"]
        if parsed.row_count > settings.CONTACT_IMPORT_INLINE_ROWS:
            job = imports.start_contact_import(
                account=request.account, user=request.user, data=data, country=country,
                parsed=parsed,
            )  # fmt: skip
            return redirect("console:contact_import_job", pk=job.pk)
        report = imports.import_contacts(account=request.account, parsed=parsed, country=country)
    status = 400 if form.errors else 200
    limits = {
        "max_mb": settings.CONTACT_IMPORT_MAX_BYTES // (1024 * 1024),
        "inline_rows": settings.CONTACT_IMPORT_INLINE_ROWS,
    }
    return render(
        request,
        "console/contact_import.html",
        {"form": form, "report": report, **limits},
        status=status,
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


@account_view
def contact_import_job(request, pk: int):
    job = get_object_or_404(selectors.account_imports(request.account), pk=pk)
    return render(request, "console/contact_import_job.html", {"job": job})


@account_view
def contact_export(request):
    """The account's contacts as CSV. A cell a spreadsheet would run as a formula
    (=, +, -, @, tab, CR first) is prefixed with ' so it opens as text; the phone column
    is E.164, checked on the way in, and stays as it is."""
    fields = request.account.custom_field_keys()
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="contacts.csv"'
    writer = csv.writer(response)
    writer.writerow(["phone", "first_name", "last_name", *fields])
    for contact in selectors.account_contacts(request.account).iterator(chunk_size=2000):
        cells = [contact.first_name, contact.last_name]
        cells += [str(contact.custom_fields.get(key, "")) for key in fields]
        writer.writerow([contact.phone, *map(spreadsheet_safe, cells)])
    return response


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value
