"""The route page's forms: a routing rule with its hops, and the route tester."""

from __future__ import annotations

from django import forms

from gateways import rules
from gateways import selectors as gateway_selectors
from gateways.models import RouteRule
from streams import channels
from streams.models import Account

from .forms import country_choices

HOP_ROWS = 5


class RouteRuleForm(forms.ModelForm):
    """A rule and up to ``HOP_ROWS`` hops, in the order of the rows (empty rows are
    skipped). Owners and admins save it; the others see it read-only."""

    class Meta:
        model = RouteRule
        fields = list(rules.RULE_FIELDS)
        labels = {
            "stream": "Stream",
            "learn": "Learn from conversion",
            "learn_threshold": "Demotion threshold",
            "learn_min_sample": "Minimum messages",
            "learn_probe_percent": "Probe share (%)",
        }

    def __init__(self, *args, account: Account, read_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.account = account
        self.fields["stream"].queryset = account.streams.order_by("name")
        self.fields["stream"].empty_label = "Every stream of the account"
        self.fields["country"] = forms.ChoiceField(
            choices=[("", "Any country"), *country_choices()],
            required=False,
            help_text=RouteRule._meta.get_field("country").help_text,
        )
        gateways = gateway_selectors.offered_gateways(account).order_by("name")
        choices = [("", "—"), *((str(g.pk), g.name) for g in gateways)]
        self.gateways = {str(g.pk): g for g in gateways}
        current = list(self.instance.hops.order_by("position")) if self.instance.pk else []
        for row in range(HOP_ROWS):
            hop = current[row] if row < len(current) else None
            self.fields[f"hop_{row}_gateway"] = forms.ChoiceField(
                choices=choices,
                required=False,
                label=f"Hop {row + 1}",
                initial=str(hop.gateway_id) if hop else "",
            )
            self.fields[f"hop_{row}_weight"] = forms.IntegerField(
                required=False,
                min_value=0,
                max_value=1000,
                initial=hop.weight if hop else 1,
                label=f"Weight of hop {row + 1}",
                help_text="Weighted rules: the hop's share of first picks.",
            )
        if read_only:
            for field in self.fields.values():
                field.disabled = True

    def hop_rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        return [(self[f"hop_{r}_gateway"], self[f"hop_{r}_weight"]) for r in range(HOP_ROWS)]

    def clean(self) -> dict:
        cleaned = super().clean()
        hops = []
        for row in range(HOP_ROWS):
            chosen = cleaned.get(f"hop_{row}_gateway")
            if chosen:
                weight = cleaned.get(f"hop_{row}_weight")
                hops.append(rules.Hop(self.gateways[chosen], 1 if weight is None else weight))
        cleaned["hops"] = hops
        return cleaned

    def rule_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in rules.RULE_FIELDS}


class RouteTesterForm(forms.Form):
    """Which gateway would this number use?"""

    stream = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="No stream (account rules only)"
    )
    channel = forms.ChoiceField(choices=channels.Channel.choices)
    number = forms.CharField(max_length=32, help_text="In international form, e.g. +447712345678.")

    def __init__(self, *args, account: Account, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stream"].queryset = account.streams.order_by("name")
