"""Hypothesis on the two pure functions every message goes through: template rendering
and the SMS segment counter. Any text, any values: no crash, and the invariants the
product relies on hold."""

from hypothesis import given, settings
from hypothesis import strategies as st

from gateways.sms import GSM7_BASIC, GSM7_EXTENSION, MULTIPART_LIMIT, SINGLE_LIMIT, sms_parts
from streams import placeholders

GSM = "".join(sorted(GSM7_BASIC | GSM7_EXTENSION))
names = st.sampled_from(["code", "first_name", "last_name", "plan"])
texts = st.text(max_size=400) | st.text(alphabet=GSM, max_size=400)
EXAMPLES = settings(max_examples=400, deadline=None)


@EXAMPLES
@given(text=texts)
def test_segments_are_at_least_one_for_any_non_empty_text(text):
    parts = sms_parts(text)
    assert (parts.segments >= 1) == bool(text)
    assert parts.characters == len(text)
    assert 0 <= parts.remaining <= parts.per_segment
    assert parts.per_segment in (SINGLE_LIMIT[parts.encoding], MULTIPART_LIMIT[parts.encoding])
    # A segment never holds more than its limit.
    assert parts.units <= parts.segments * parts.per_segment


@EXAMPLES
@given(text=texts)
def test_ucs2_exactly_when_a_character_is_outside_gsm7(text):
    outside = any(ch not in GSM7_BASIC and ch not in GSM7_EXTENSION for ch in text)
    assert (sms_parts(text).encoding == "ucs2") == outside


@EXAMPLES
@given(
    before=st.text(max_size=80),
    after=st.text(max_size=80),
    code=st.text(alphabet="0123456789ABCDEFabcdef!#$%&", min_size=4, max_size=32),
    values=st.dictionaries(names, st.text(max_size=40), max_size=4),
)
def test_rendered_text_contains_the_code(before, after, code, values):
    text = before.replace("{", "(") + "{{code}}" + after.replace("{", "(")
    rendered = placeholders.render(text, {**values, "code": code})
    assert code in rendered
    assert "{{" not in rendered
    assert sms_parts(rendered).segments >= 1


@EXAMPLES
@given(text=st.text(max_size=200), values=st.dictionaries(names, st.text(max_size=40)))
def test_render_fills_or_names_what_is_missing(text, values):
    """Any template text: either every placeholder is filled, or ``MissingVariable``
    names exactly the empty or absent ones. Nothing else is raised."""
    wanted = placeholders.placeholders_in(text)
    try:
        rendered = placeholders.render(text, values)
    except placeholders.MissingVariable as exc:
        assert exc.names == [n for n in wanted if not values.get(n)]
        assert exc.names
    else:
        assert all(values.get(n) for n in wanted)
        for name in wanted:
            assert str(values[name]) in rendered
