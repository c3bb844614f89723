from django import template

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
