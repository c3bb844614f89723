from django import template

from streams import phones

from .. import previews

register = template.Library()


@register.filter
def get_item(mapping: dict, key):
    return mapping.get(key) if mapping else None


@register.filter
def as_minutes(seconds: int | None) -> str:
    """A time to live as the wizard takes it, in minutes ("5 min", "1 h 30 min")."""
    if seconds is None:
        return "—"
    minutes = round(int(seconds) / 60)
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        return f"{hours} h {rest} min"
    return f"{hours} h" if hours else f"{minutes} min"


@register.filter
def as_seconds(seconds: int | None) -> str:
    """A latency bound: "8 s", "2 min", "over a day" past the histogram's last bound."""
    if seconds is None:
        return "—"
    if seconds >= 86_400:
        return "over an hour"
    return f"{seconds} s" if seconds < 120 else f"{round(seconds / 60)} min"


@register.filter
def country_names(codes: list[str]) -> str:
    """["FR", "GB"] as "France (FR), United Kingdom (GB)"."""
    return ", ".join(f"{phones.country_name(code)} ({code})" for code in codes or [])


@register.filter
def number_type_labels(values: list[str]) -> str:
    kinds = {kind.value: kind.label for kind in phones.NumberKind}
    return "; ".join(kinds.get(value, value) for value in values or [])


@register.filter
def message_cost(preview, costs: dict | None) -> str:
    """The estimated cost of a previewed text to the editor's first country."""
    first = next(iter(costs["countries"]), None) if costs else None
    if not preview or first is None:
        return ""
    return previews.describe_cost(preview.parts.segments, first, costs)
