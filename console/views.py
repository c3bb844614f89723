"""The console's pages. Thin: they read through selectors, write through services, and
every object is looked up inside the current account (another account's is a 404)."""

from __future__ import annotations

import csv
import io

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import ProtectedError, Q
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from gateways.sms import sms_parts

from . import placeholders, previews, selectors, services
from .context import SESSION_KEY, account_view
from .filters import StreamFilter
from .forms import (
    CodeForm,
    ContactForm,
    ContactImportForm,
    DetailsForm,
    SenderForm,
    TemplateFormSet,
)
from .models import Contact, SenderID, Stream

STEPS = [(1, "Details"), (2, "Code handling"), (3, "Message content"), (4, "Summary")]


# --- Streams -------------------------------------------------------------------------------


@account_view
def stream_list(request):
    streams = (
        Stream.objects.filter(account=request.account)
        .select_related("default_sender")
        .prefetch_related("tags")
        .order_by("-created_at", "-id")
    )
    filtered = StreamFilter(request.GET, queryset=streams, account=request.account)
    page = Paginator(filtered.qs, 20).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "streams/list.html",
        {"filter": filtered, "page_obj": page, "query": query.urlencode()},
    )


@account_view
def stream_new(request):
    """Create stream: choose the stream type (OTP is the one type today)."""
    if request.method == "POST":
        if request.POST.get("type") == "otp":
            return redirect("streams:wizard_new")
        messages.error(request, "Choose a stream type.")
    return render(request, "streams/new.html")


@account_view
def wizard(request, public_id=None, step: int = 1):
    if public_id is None:
        if step != 1:
            raise Http404
        stream = Stream(account=request.account)
    else:
        stream = get_object_or_404(Stream, account=request.account, public_id=public_id)
    if step not in dict(STEPS):
        raise Http404
    handler = {1: _details_step, 2: _code_step, 3: _content_step, 4: _summary_step}[step]
    return handler(request, stream)


def _after_save(request, stream: Stream, step: int):
    action = request.POST.get("action", "next")
    services.reach_step(stream, step + 1 if action == "next" else step)
    if action == "draft":
        messages.success(request, f"“{stream.name}” saved as a draft.")
        return redirect("streams:list")
    return redirect("streams:wizard", public_id=stream.public_id, step=step + 1)


def _render_step(request, stream: Stream, step: int, context: dict, status: int = 200):
    reached = stream.wizard_step if stream.status == Stream.Status.DRAFT else 4
    context.update(
        stream=stream,
        step=step,
        steps=STEPS,
        reached=reached if stream.pk else 1,
    )
    return render(request, f"streams/wizard_{step}.html", context, status=status)


def _details_step(request, stream: Stream):
    if request.method == "POST":
        form = DetailsForm(
            request.POST,
            instance=stream,
            account=request.account,
            ip_list=request.POST.getlist("allowed_ips"),
        )
        if form.is_valid():
            data = form.cleaned_data
            services.save_stream_details(
                stream=stream,
                account=request.account,
                name=data["name"],
                description=data["description"],
                allowed_ips=data["allowed_ips"],
                tags=list(data["tags"]),
                new_tag_names=data["new_tag_names"],
                default_sender=data.get("default_sender"),
                new_sender=data.get("new_sender"),
            )
            return _after_save(request, stream, 1)
        return _render_step(request, stream, 1, {"form": form}, status=400)
    form = DetailsForm(instance=stream, account=request.account)
    return _render_step(request, stream, 1, {"form": form})


def _code_step(request, stream: Stream):
    if request.method == "POST":
        form = CodeForm(request.POST, instance=stream)
        if form.is_valid():
            form.save()
            return _after_save(request, stream, 2)
        return _render_step(request, stream, 2, {"form": form}, status=400)
    return _render_step(request, stream, 2, {"form": CodeForm(instance=stream)})


def _content_step(request, stream: Stream):
    account = request.account
    if request.method == "POST":
        formset = TemplateFormSet(
            request.POST, instance=stream, account=account, prefix="templates"
        )
        if formset.is_valid():
            formset.save()
            return _after_save(request, stream, 3)
        status = 400
    else:
        formset = TemplateFormSet(instance=stream, account=account, prefix="templates")
        if not stream.templates.exists():  # start with a log-in template to edit
            formset = TemplateFormSet(
                instance=stream,
                account=account,
                prefix="templates",
                initial=[
                    {
                        "name": "Log-in",
                        "key": "login",
                        "text": "Your code is {{code}}",
                        "enabled": True,
                    }
                ],
            )
            formset.extra = 1
        status = 200
    custom = list(account.contact_fields.values_list("key", "name"))
    names = [
        (placeholders.CODE, "OTP code"),
        ("first_name", "First name"),
        ("last_name", "Last name"),
        *custom,
    ]
    counters = {}
    for form in formset.forms:
        text = form["text"].value() or ""
        counters[form.prefix] = sms_parts(_sample(text, stream))
    return _render_step(
        request,
        stream,
        3,
        {"formset": formset, "placeholder_names": names, "counters": counters},
        status=status,
    )


def _sample(text: str, stream: Stream) -> str:
    """The text as the counter measures it: the code at the stream's length."""
    return text.replace("{{code}}", "0" * stream.code_length)


def _summary_step(request, stream: Stream):
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "draft":
            messages.success(request, f"“{stream.name}” saved as a draft.")
            return redirect("streams:list")
        if action == "create" and stream.status == Stream.Status.DRAFT:
            if not request.membership.can_manage:
                messages.error(request, "Only owners and admins can create streams.")
            elif not stream.templates.filter(enabled=True).exists():
                messages.error(request, "Add at least one enabled event template first.")
            else:
                token = services.activate_stream(stream=stream)
                return _render_step(request, stream, 4, _summary_context(request, stream, token))
        elif action == "done":
            return redirect("streams:detail", public_id=stream.public_id)
    services.reach_step(stream, 4)
    return _render_step(request, stream, 4, _summary_context(request, stream))


def _summary_context(request, stream: Stream, token: str | None = None) -> dict:
    return {
        "templates": stream.templates.all(),
        "previews": previews.api_previews(request, stream),
        "new_token": token,
    }


@account_view
def stream_detail(request, public_id):
    stream = get_object_or_404(
        Stream.objects.select_related("default_sender"),
        account=request.account,
        public_id=public_id,
    )
    return render(request, "streams/detail.html", _detail_context(request, stream))


def _detail_context(request, stream: Stream, token: str | None = None) -> dict:
    return {
        "stream": stream,
        "templates": stream.templates.all(),
        "verifications": selectors.recent_verifications(stream),
        "new_token": token,
        "previews": previews.api_previews(request, stream),
    }


@require_POST
@account_view(manage=True)
def stream_toggle(request, public_id):
    stream = get_object_or_404(Stream, account=request.account, public_id=public_id)
    if stream.status == Stream.Status.DRAFT:
        messages.error(request, "Finish the wizard to activate a draft.")
    else:
        enabled = request.POST.get("enabled") == "1"
        services.set_stream_enabled(stream=stream, enabled=enabled)
        messages.success(request, f"“{stream.name}” is {'enabled' if enabled else 'disabled'}.")
    return redirect("streams:detail", public_id=stream.public_id)


@require_POST
@account_view(manage=True)
def stream_rotate(request, public_id):
    stream = get_object_or_404(Stream, account=request.account, public_id=public_id)
    if stream.status == Stream.Status.DRAFT:
        messages.error(request, "A draft gets its token when it is created.")
        return redirect("streams:detail", public_id=stream.public_id)
    token = services.rotate_token(stream=stream)
    return render(request, "streams/detail.html", _detail_context(request, stream, token))


# --- Sender IDs --------------------------------------------------------------------------------


@account_view
def sender_list(request):
    form = SenderForm(request.POST or None, account=request.account)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Sender ID “{form.instance.value}” added.")
        return redirect("streams:senders")
    senders = SenderID.objects.filter(account=request.account)
    status = 400 if form.errors else 200
    return render(
        request, "streams/senders.html", {"form": form, "senders": senders}, status=status
    )


@account_view
def sender_edit(request, pk: int):
    sender = get_object_or_404(SenderID, account=request.account, pk=pk)
    form = SenderForm(request.POST or None, instance=sender, account=request.account)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Sender ID saved.")
        return redirect("streams:senders")
    status = 400 if form.errors else 200
    return render(
        request, "streams/sender_form.html", {"form": form, "sender": sender}, status=status
    )


@require_POST
@account_view
def sender_delete(request, pk: int):
    sender = get_object_or_404(SenderID, account=request.account, pk=pk)
    try:
        sender.delete()
    except ProtectedError:
        messages.error(request, f"“{sender.value}” is the default sender of a stream.")
    else:
        messages.success(request, f"Sender ID “{sender.value}” deleted.")
    return redirect("streams:senders")


# --- Contacts ----------------------------------------------------------------------------------


@account_view
def contact_list(request):
    contacts = Contact.objects.filter(account=request.account).order_by("last_name", "first_name")
    search = request.GET.get("q", "").strip()
    if search:
        contacts = contacts.filter(
            Q(phone__icontains=search)
            | Q(first_name__icontains=search)
            | Q(last_name__icontains=search)
        )
    page = Paginator(contacts, 50).get_page(request.GET.get("page"))
    fields = list(request.account.contact_fields.all())
    return render(
        request,
        "streams/contacts.html",
        {"page_obj": page, "fields": fields, "q": search, "query": f"q={search}" if search else ""},
    )


@account_view
def contact_edit(request, pk: int | None = None):
    contact = get_object_or_404(Contact, account=request.account, pk=pk) if pk else None
    form = ContactForm(request.POST or None, instance=contact, account=request.account)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Contact saved.")
        return redirect("streams:contacts")
    status = 400 if form.errors else 200
    return render(
        request, "streams/contact_form.html", {"form": form, "contact": contact}, status=status
    )


@require_POST
@account_view
def contact_delete(request, pk: int):
    contact = get_object_or_404(Contact, account=request.account, pk=pk)
    contact.delete()
    messages.success(request, "Contact deleted.")
    return redirect("streams:contacts")


@account_view
def contact_import(request):
    report = None
    form = ContactImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            text = upload.read(2_000_000).decode("utf-8-sig")
        except UnicodeDecodeError:
            form.add_error("file", "The file is not UTF-8 text.")
        else:
            reader = csv.DictReader(io.StringIO(text))
            if not reader.fieldnames or "phone" not in [
                f.strip().lower() for f in reader.fieldnames
            ]:
                form.add_error("file", "The first row must name the columns, one of them phone.")
            else:
                report = services.import_contacts(
                    account=request.account, rows=reader, country=form.cleaned_data["country"]
                )
    status = 400 if form.errors else 200
    return render(
        request, "streams/contact_import.html", {"form": form, "report": report}, status=status
    )


# --- Account, outbox ---------------------------------------------------------------------------


@account_view
def switch_account(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    wanted = request.POST.get("account")
    membership = next((m for m in request.memberships if str(m.account_id) == wanted), None)
    if membership is None:
        raise Http404
    request.session[SESSION_KEY] = membership.account_id
    messages.success(request, f"Now working in {membership.account.name}.")
    return redirect(reverse("streams:list"))


@account_view
def outbox(request):
    """The development outbox: what the console gateway 'sent' for this account."""
    messages_sent = selectors.outbox_messages(request.account)
    page = Paginator(messages_sent, 50).get_page(request.GET.get("page"))
    return render(request, "streams/outbox.html", {"page_obj": page})
