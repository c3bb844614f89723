"""The stream wizard: details, code handling, message content, summary. A new stream
is created as a draft when step 1 is saved; a draft reopens at the step it reached."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render

from gateways.sms import sms_parts
from streams import placeholders, selectors, services
from streams.models import Stream

from .. import previews
from ..context import account_view
from ..forms import CodeForm, DetailsForm, TemplateFormSet

STEPS = [(1, "Details"), (2, "Code handling"), (3, "Message content"), (4, "Summary")]


@account_view
def wizard(request, public_id=None, step: int = 1):
    if public_id is None:
        if step != 1:
            raise Http404
        stream = Stream(account=request.account)
    else:
        stream = get_object_or_404(selectors.account_streams(request.account), public_id=public_id)
    if step not in dict(STEPS):
        raise Http404
    handler = {1: _details_step, 2: _code_step, 3: _content_step, 4: _summary_step}[step]
    return handler(request, stream)


def _after_save(request, stream: Stream, step: int):
    action = request.POST.get("action", "next")
    services.reach_step(stream, step + 1 if action == "next" else step)
    if stream.status != Stream.Status.DRAFT:
        # A created stream has no draft: its changes are live once saved, and the page
        # says so (the buttons read "Apply", behind a confirmation).
        messages.success(request, f"Changes to “{stream.name}” are saved and live now.")
        if action == "draft":
            return redirect("console:detail", public_id=stream.public_id)
    elif action == "draft":
        messages.success(request, f"“{stream.name}” saved as a draft.")
        return redirect("console:list")
    return redirect("console:wizard", public_id=stream.public_id, step=step + 1)


def _render_step(request, stream: Stream, step: int, context: dict, status: int = 200):
    context = {
        **context,
        "stream": stream,
        "step": step,
        "steps": STEPS,
        "reached": stream.reached_step if stream.pk else 1,
    }
    return render(request, f"console/wizard_{step}.html", context, status=status)


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
            services.save_code_handling(stream=stream, changes=form.changes())
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
            services.save_templates(stream=stream, changes=formset.changes())
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
            return redirect("console:list")
        if action == "create" and stream.status == Stream.Status.DRAFT:
            if not request.membership.can_manage:
                messages.error(request, "Only owners and admins can create streams.")
            else:
                try:
                    token = services.activate_stream(stream=stream)
                except services.Refused as refusal:
                    messages.error(request, str(refusal))
                else:
                    context = _summary_context(request, stream, token)
                    return _render_step(request, stream, 4, context)
        elif action == "done":
            return redirect("console:detail", public_id=stream.public_id)
    services.reach_step(stream, 4)
    return _render_step(request, stream, 4, _summary_context(request, stream))


def _summary_context(request, stream: Stream, token: str | None = None) -> dict:
    return {
        "templates": stream.templates.all(),
        "previews": previews.api_previews(request, stream),
        "new_token": token,
    }
