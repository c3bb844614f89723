from django import template

from streams import phones

register = template.Library()


@register.filter
def get_item(mapping: dict, key):
    return mapping.get(key) if mapping else None


@register.filter
def country_names(codes: list[str]) -> str:
    """["FR", "GB"] as "France (FR), United Kingdom (GB)"."""
    return ", ".join(f"{phones.country_name(code)} ({code})" for code in codes or [])


@register.filter
def number_type_labels(values: list[str]) -> str:
    kinds = {kind.value: kind.label for kind in phones.NumberKind}
    return "; ".join(kinds.get(value, value) for value in values or [])
