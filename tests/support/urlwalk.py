"""Every URL pattern of the project, and the objects of one account to fill them with.

The tenancy and CSRF tests are generated from :func:`all_routes`, so a view added
later is covered without anyone remembering to add it. A pattern with a URL keyword
the fillers do not know fails those tests until a filler is added here: a new view
cannot skip the checks by accident.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from django.apps import apps
from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter, UUIDConverter
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

# What a URL belongs to, by its prefix; everything else is the console.
ADMIN, AUTH, API, COMPAT, CALLBACK = "admin", "auth", "api", "compat", "callback"
# compat/: the peers' APIs (compat/), authenticated by credentials in headers or the
# query, never by a session.
AREAS = {"admin/": ADMIN, "accounts/": AUTH, "api/": API, "compat/": COMPAT}
# Providers' callbacks, by URL name: no session, authenticated by a per-gateway secret in
# the URL (and the provider's signature where it signs), so CSRF does not apply.
CALLBACKS = {"gateways:receipt"}


@dataclass(frozen=True)
class Route:
    route: str  # "api/v1/otp/<uuid:verification_id>"
    name: str  # with its namespaces: "otp:verification"
    area: str  # admin, auth, api, compat, callback or console
    kwargs: dict[str, object]  # keyword -> converter
    callback: object = field(compare=False)

    @property
    def view_class(self):
        return getattr(self.callback, "view_class", None) or getattr(self.callback, "cls", None)

    @property
    def csrf_exempt(self) -> bool:
        return bool(getattr(self.callback, "csrf_exempt", False))

    def path(self, values: dict[str, object]) -> str:
        def fill(match: re.Match) -> str:
            return str(values[match.group(2)])

        return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", fill, self.route)

    def __str__(self) -> str:
        return f"/{self.route} ({self.name})"


def all_routes() -> list[Route]:
    routes = []

    def walk(resolver: URLResolver, prefix: str, namespace: str) -> None:
        for pattern in resolver.url_patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern, route, inner)
                continue
            assert isinstance(pattern, URLPattern)
            name = f"{namespace}{pattern.name or ''}"
            area = next((a for p, a in AREAS.items() if route.startswith(p)), "console")
            if name in CALLBACKS:
                area = CALLBACK
            converters = getattr(pattern.pattern, "converters", None)
            if converters is None:  # a regular expression: its named groups
                converters = dict.fromkeys(pattern.pattern.regex.groupindex)
            routes.append(Route(route, name, area, dict(converters), pattern.callback))

    walk(get_resolver(), "", "")
    return routes


# --- Filling URL keywords with one account's objects -----------------------------------


class CannotFill(LookupError):
    pass


def _value(obj: models.Model, converter) -> object:
    if isinstance(converter, UUIDConverter):
        if isinstance(obj.pk, uuid.UUID):
            return obj.pk
        return obj.public_id
    if isinstance(converter, IntConverter):
        return obj.pk
    # str, slug, path: the slug if the object has one, its public id, or its key
    for attr in ("slug", "public_id", "pk"):
        if hasattr(obj, attr):
            return getattr(obj, attr)
    raise CannotFill(obj)


# Function views name their model by the start of their URL (the longest that matches).
MODEL_BY_PREFIX = {
    "streams/": "stream",
    "senders/": "senderid",
    "contacts/import/": "contactimport",
    "contacts/": "contact",
    "members/": "membership",
    "contact-fields/": "contactfield",
    "routes/": "routerule",
}


def _model_of(route: Route) -> type[models.Model] | None:
    view = route.view_class
    prefixes = sorted((p for p in MODEL_BY_PREFIX if route.route.startswith(p)), key=len)
    segment = MODEL_BY_PREFIX[prefixes[-1]] if prefixes else None
    if segment is not None:
        return next(m for m in apps.get_models() if m._meta.model_name == segment)
    model = getattr(view, "model", None)
    if model is None and getattr(view, "queryset", None) is not None:
        model = view.queryset.model
    return model


def fill(route: Route, objects: dict[str, models.Model]) -> dict[str, object]:
    """Values for ``route``'s keywords taken from ``objects`` (one account's objects by
    model name: "stream", "verification", ...). Raises :class:`CannotFill`."""
    values = {}
    for name, converter in route.kwargs.items():
        if name == "uidb64":
            values[name] = urlsafe_base64_encode(force_bytes(objects["user"].pk))
        elif name == "token":
            values[name] = "set-password"
        elif name == "secret":
            values[name] = objects["gateway"].receipt_secret
        elif name == "step":
            values[name] = 2
        elif name in ("pk", "id", "public_id", "slug", "uuid"):
            model = _model_of(route)
            if model is None or model._meta.model_name not in objects:
                raise CannotFill(f"{route}: which model is <{name}>?")
            values[name] = _value(objects[model._meta.model_name], converter)
        else:
            base = re.sub(r"_(id|pk|uuid|slug|public_id)$", "", name).replace("_", "")
            candidates = [base, base.removesuffix("s")]
            found = next((objects[c] for c in candidates if c in objects), None)
            if found is None:
                raise CannotFill(f"{route}: no filler for <{name}>")
            values[name] = (
                found.slug if name.endswith("slug") and hasattr(found, "slug") else None
            ) or _value(found, converter)
    return values


def snapshot() -> dict[str, list[dict]]:
    """Every row of the project's own models (and users without their sign-in time):
    compared before and after a request that must change nothing."""
    tables = {}
    for model in apps.get_models():
        label = model._meta.app_label
        if label not in ("streams", "otp", "gateways", "auth"):
            continue
        rows = list(model.objects.order_by("pk").values())
        for row in rows:
            row.pop("last_login", None)
        tables[model._meta.label] = rows
    return tables
