"""The stream wizard: details, code handling, message content, summary. A new stream
is created as a draft when step 1 is saved; a draft reopens at the step it reached."""

from __future__ import annotations

from dataclasses import replace

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render

from otp import selectors as otp_selectors
from streams import locales, placeholders, selectors, services, wording
from streams.messages import MessageFormat
from streams.models import Stream

from .. import previews
from ..context import account_view
from ..forms import (
    BudgetForm,
    CodeForm,
    DestinationsForm,
    DetailsForm,
    MessageSettingsForm,
    TemplateFormSet,
)

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
        ip_list = request.POST.getlist("allowed_ips")
        if "allowed_ips" not in request.POST and not request.membership.can_manage:
            # Developers are not offered the list: what they save keeps the stream's.
            ip_list = list(stream.allowed_ips)
        form = DetailsForm(request.POST, instance=stream, account=request.account, ip_list=ip_list)
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
                by=request.membership,
            )
            return _after_save(request, stream, 1)
        return _render_step(request, stream, 1, {"form": form}, status=400)
    form = DetailsForm(instance=stream, account=request.account)
    return _render_step(request, stream, 1, {"form": form})


def _code_step(request, stream: Stream):
    """Code handling, and (owners and admins) destinations and budgets."""
    data = request.POST if request.method == "POST" else None
    can_manage = request.membership.can_manage
    form = CodeForm(data, instance=stream)
    destinations = DestinationsForm(
        data,
        stream=stream,
        proposed=selectors.proposed_countries(request.account),
        can_manage=can_manage,
    )
    budgets = BudgetForm(
        data,
        budgets=selectors.budgets_of(request.account, stream),
        can_manage=can_manage,
        prefix="budget",
    )
    context = {"form": form, "destinations": destinations, "budgets": budgets}
    if data is None:
        return _render_step(request, stream, 2, context)
    if destinations.attempted_change() or budgets.attempted_change():
        raise PermissionDenied("Only owners and admins change destinations and budgets.")
    if not can_manage:
        # Every setting of this step is a security setting: a developer is shown it
        # read-only, and "Next" passes it unchanged.
        if set(request.POST) & set(CodeForm.base_fields):
            raise services.NotAllowed("Only owners and admins can change these settings.")
        return _after_save(request, stream, 2)
    if not (form.is_valid() and destinations.is_valid() and budgets.is_valid()):
        return _render_step(request, stream, 2, context, status=400)
    by = request.membership
    services.save_code_handling(stream=stream, changes=form.changes(), by=by)
    services.save_destinations(stream=stream, **destinations.changes(), by=by)
    services.save_budgets(account=request.account, stream=stream, limits=budgets.limits(), by=by)
    return _after_save(request, stream, 2)


def _content_step(request, stream: Stream):
    account = request.account
    if request.method == "POST":
        # The settings travel with a marker: a client posting only the templates (an
        # older page, a script) leaves them as they are.
        given = "message-present" in request.POST
        settings_form = MessageSettingsForm(
            request.POST if given else None, instance=stream, prefix="message"
        )
        formset = TemplateFormSet(
            request.POST, instance=stream, account=account, prefix="templates"
        )
        settings_ok = not given or settings_form.is_valid()
        if settings_ok:
            formset.check_text = _text_checker(stream, settings_form if given else None)
        if settings_ok and formset.is_valid():
            settings = (
                {
                    name: settings_form.cleaned_data[name]
                    for name in services.MESSAGE_SETTINGS_FIELDS
                }
                if given
                else {}
            )
            services.save_templates(
                stream=stream,
                changes=formset.changes(),
                settings=settings,
                by=request.membership,
            )
            return _after_save(request, stream, 3)
        status = 400
    else:
        settings_form = MessageSettingsForm(instance=stream, prefix="message")
        start = request.GET.get("start", "")
        initial = []
        if start in wording.EVENTS:  # a new template from the built-in texts
            initial = [_builtin_template(stream, start)]
        elif not stream.templates.exists():  # start with a log-in template to edit
            initial = [
                {"name": "Log-in", "key": "login", "text": "Your code is {{code}}", "enabled": True}
            ]
        formset = TemplateFormSet(
            instance=stream, account=account, prefix="templates", initial=initial
        )
        formset.extra = len(initial)
        status = 200
    custom = list(account.contact_fields.values_list("key", "name"))
    names = [
        (placeholders.CODE, "OTP code"),
        (placeholders.BRAND, "Brand"),
        (placeholders.EXPIRES_IN, "Expires in"),
        ("first_name", "First name"),
        ("last_name", "Last name"),
        *custom,
    ]
    return _render_step(
        request,
        stream,
        3,
        {
            "settings_form": settings_form,
            "formset": formset,
            "placeholder_names": names,
            "previews": _form_previews(stream, formset),
            "builtin_events": wording.EVENTS,
            "counter_data": _counter_data(stream),
        },
        status=status,
    )


def _builtin_template(stream: Stream, event: str) -> dict:
    """A template of the built-in texts: the default in the stream's language (English
    when there is none), a variant for each other language."""
    default_language = locales.language_of(stream.default_locale)
    default = wording.builtin_text(event, default_language) or wording.builtin_text(event, "en")
    variants = {
        code: language.texts[event]
        for code, language in wording.LANGUAGES.items()
        if code != default_language
    }
    key = event if not stream.templates.filter(key=event).exists() else f"{event}_2"
    return {
        "name": wording.EVENTS[event],
        "key": key,
        "text": default,
        "variants": variants,
        "enabled": True,
    }


def _text_checker(stream: Stream, settings_form):
    """A check of one template text against the settings as entered: the SMS Retriever
    message must fit in 140 bytes."""
    if settings_form is None:
        fmt, default_locale = MessageFormat.of(stream), stream.default_locale
    else:
        fmt = settings_form.message_format()
        default_locale = settings_form.cleaned_data["default_locale"]
    values = previews.sample_values(stream)

    def check(text: str, locale: str | None, domain: str) -> list[str]:
        form_fmt = replace(fmt, webotp_domain=domain or fmt.webotp_domain)
        return previews.preview_message(
            stream,
            text=text,
            locale=locale or default_locale,
            fmt=form_fmt,
            values=values,
        ).problems

    return check


def _form_previews(stream: Stream, formset) -> dict[str, dict]:
    """For each form, its texts (the default, then each variant with its fields)
    previewed as entered, as the recipient would see them."""
    fmt_stream = MessageFormat.of(stream)
    values = previews.sample_values(stream)
    result = {}
    for form in formset.forms:
        domain = form["webotp_domain"].value() or ""
        fmt = replace(fmt_stream, webotp_domain=domain or fmt_stream.webotp_domain)

        def preview(text, tag, fmt=fmt):
            return previews.preview_message(
                stream, text=text or "", locale=tag or stream.default_locale, fmt=fmt, values=values
            )

        result[form.prefix] = {
            "default": preview(form["text"].value(), stream.default_locale),
            "variants": [
                {
                    "locale": tag_field,
                    "text": text_field,
                    "preview": preview(
                        text_field.value(),
                        locales.normalize_locale_or_none(str(tag_field.value() or "")),
                    ),
                }
                for tag_field, text_field in form.variant_rows()
            ],
        }
    return result


def _counter_data(stream: Stream) -> dict:
    """What the browser's counter needs to measure a text as the server does."""
    return {
        "code": previews.sample_code(stream),
        "brand": stream.brand_name,
        "values": previews.sample_values(stream),
        "words": {
            code: {
                "do_not_share": language.do_not_share,
                "expires_in": wording.expires_in(stream.code_ttl_seconds, code),
            }
            for code, language in wording.LANGUAGES.items()
        },
        "default_locale": stream.default_locale,
        "retriever_max_bytes": previews.RETRIEVER_MAX_BYTES,
        "cost": previews.cost_countries(stream),
    }


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
                    token = services.activate_stream(stream=stream, by=request.membership)
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
        "message_previews": previews.message_previews(stream),
        "budget_usage": otp_selectors.budget_usage(request.account, stream),
        "previews": previews.api_previews(request, stream),
        "new_token": token,
    }
