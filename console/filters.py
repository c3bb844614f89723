"""The streams table's search and filters (django-filter)."""

import django_filters

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
