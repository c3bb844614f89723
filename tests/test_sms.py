"""The segment counter the wizard, the API and the dispatcher share."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateways.sms import GSM7_BASIC, GSM7_EXTENSION, sms_parts


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments", "per_segment"),
    [
        ("", "gsm7", 0, 0, 160),
        ("Your code is 123456", "gsm7", 19, 1, 160),
        ("a" * 160, "gsm7", 160, 1, 160),
        ("a" * 161, "gsm7", 161, 2, 153),
        ("a" * 306, "gsm7", 306, 2, 153),
        ("a" * 307, "gsm7", 307, 3, 153),
        ("€" * 80, "gsm7", 160, 1, 160),  # extension characters count twice
        ("€" * 81, "gsm7", 162, 2, 153),
        ("[code]" + "a" * 154, "gsm7", 162, 2, 153),
        ("Grüße à Paris", "gsm7", 13, 1, 160),  # ü, à are in the GSM-7 basic table
        ("ç", "ucs2", 1, 1, 70),  # lower-case c cedilla is not (only the capital is)
        ("Ваш код 1234", "ucs2", 12, 1, 70),
        ("я" * 70, "ucs2", 70, 1, 70),
        ("я" * 71, "ucs2", 71, 2, 67),
        ("я" * 134, "ucs2", 134, 2, 67),
        ("я" * 135, "ucs2", 135, 3, 67),
        ("Code 1234 🔐", "ucs2", 12, 1, 70),  # an emoji is a surrogate pair: two units
        ("🔐" * 35, "ucs2", 70, 1, 70),
        ("🔐" * 36, "ucs2", 72, 2, 67),
    ],
)
def test_known_cases(text, encoding, units, segments, per_segment):
    parts = sms_parts(text)
    assert (parts.encoding, parts.units, parts.segments, parts.per_segment) == (
        encoding,
        units,
        segments,
        per_segment,
    )
    assert parts.characters == len(text)


def test_escape_pair_is_never_split_across_segments():
    # 152 plain characters then a euro sign: the escape pair does not fit in the
    # first part's last septet, so it moves whole to the second part.
    parts = sms_parts("a" * 152 + "€" + "a" * 10)
    assert parts.units == 164
    assert parts.segments == 2
    assert parts.remaining == 153 - 12


def test_remaining_counts_down_in_the_last_segment():
    assert sms_parts("a" * 150).remaining == 10
    assert sms_parts("a" * 160).remaining == 0
    assert sms_parts("я" * 10).remaining == 60


gsm_text = st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENSION), max_size=800)


@given(gsm_text)
def test_gsm_text_never_becomes_unicode(text):
    parts = sms_parts(text)
    assert parts.encoding == "gsm7"
    assert parts.units >= parts.characters
    capacity = parts.per_segment * parts.segments
    assert parts.units <= capacity


@given(st.text(max_size=500))
def test_any_text_fits_in_its_segments(text):
    parts = sms_parts(text)
    assert parts.segments * parts.per_segment >= parts.units
    assert 0 <= parts.remaining <= parts.per_segment
    if parts.units:
        assert (parts.segments - 1) * parts.per_segment < parts.units + parts.segments
