"""The streams table's search and filters (django-filter), and the numbers' period and
filters (the overview, a stream's page)."""

import django_filters
from django import forms

from otp import selectors as otp_selectors
from streams.channels import Channel
from streams.models import Stream, Tag


class StreamFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Search")
    status = django_filters.ChoiceFilter(choices=Stream.Status.choices, empty_label="Any status")
    tag = django_filters.ModelChoiceFilter(
        field_name="tags", queryset=Tag.objects.none(), empty_label="Any tag"
    )

    class Meta:
        model = Stream
        fields = ["q", "status", "tag"]

    def __init__(self, *args, account, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["tag"].queryset = account.tags.all()


class PeriodForm(forms.Form):
    """The period of a view of the numbers (a GET form: every view has a URL): a stream
    page's, and the overview's with its filters."""

    period = forms.ChoiceField(
        choices=list(otp_selectors.ANALYTICS_PERIODS.items()), required=False
    )
    first = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    last = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        data = super().clean()
        data["period"] = data.get("period") or "7d"
        if data["period"] == "custom":
            first, last = data.get("first"), data.get("last")
            if not first or not last:
                self.add_error("first", "A custom period needs a first and a last day.")
            elif first > last:
                self.add_error("last", "The last day cannot be before the first.")
            elif (last - first).days > 366:
                self.add_error("last", "At most 366 days.")
        return data

    def filters(self, *, now, **narrowed) -> otp_selectors.AnalyticsFilters:
        """The period's bounds, with ``narrowed`` filters (stream_ids, country, ...)."""
        data = self.cleaned_data
        start, end = otp_selectors.analytics_period_bounds(
            data["period"], now=now, first=data.get("first"), last=data.get("last")
        )
        return otp_selectors.AnalyticsFilters(
            start=start, end=end, period=data["period"], **narrowed
        )


class OverviewForm(PeriodForm):
    """The overview's period and filters. The choices are the account's streams and
    what its rollups hold."""

    stream = forms.ModelChoiceField(
        queryset=Stream.objects.none(), required=False, empty_label="All streams"
    )
    event = forms.ChoiceField(required=False)
    channel = forms.ChoiceField(choices=[("", "All channels"), *Channel.choices], required=False)
    country = forms.ChoiceField(required=False)
    gateway = forms.TypedChoiceField(coerce=int, empty_value=None, required=False)

    def __init__(self, *args, account, streams, choices: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stream"].queryset = streams
        self.fields["event"].choices = [("", "All events")] + [(e, e) for e in choices["events"]]
        self.fields["country"].choices = [("", "All countries")] + [
            (c, c) for c in choices["countries"]
        ]
        self.fields["gateway"].choices = [("", "All gateways"), ("0", "No gateway yet")] + [
            (str(g), name) for g, name in choices["gateways"]
        ]

    def filters(self, *, now) -> otp_selectors.AnalyticsFilters:
        data = self.cleaned_data
        return super().filters(
            now=now,
            stream_ids=(data["stream"].pk,) if data.get("stream") else (),
            event_key=data.get("event") or "",
            channel=data.get("channel") or "",
            country=data.get("country") or "",
            gateway_id=data.get("gateway"),
        )
