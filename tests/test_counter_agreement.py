# ruff: noqa: RUF001 - the look-alike characters are what these tests are about
"""The console's segment counter (static/js/console.js, run in node) and the server's
(gateways/sms.py) agree on every text: encoding, characters, units, segments, the
room left and the bytes on the air, with and without smart encoding. Smart encoding
turns look-alikes into GSM-7 and never touches any other character."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.previews import MessagePreview, describe_cost
from gateways.sms import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    SMART_REPLACEMENTS,
    is_gsm7,
    smart_encode,
    sms_parts,
)
from streams import wording
from streams.messages import MessageFormat, compose_sms

CONSOLE_JS = Path(__file__).resolve().parent.parent / "static" / "js" / "console.js"
FIELDS = ("encoding", "characters", "units", "segments", "per_segment", "remaining")

# Loads console.js in a VM with a stub document, then measures every text of the
# JSON array on stdin; one node process per batch.
NODE_RUNNER = """
const vm = require("vm"), fs = require("fs");
const none = () => null;
const ctx = {
  document: {addEventListener() {}, querySelector: none, getElementById: none,
             querySelectorAll: () => []},
  window: {}, setTimeout, setInterval,
};
vm.createContext(ctx);
vm.runInContext(fs.readFileSync(process.argv[1], "utf8"), ctx);
const texts = JSON.parse(fs.readFileSync(0, "utf8"));
const out = texts.map((t) => {
  const plain = ctx.smsParts(t), smart = ctx.smsParts(ctx.smartEncode(t));
  return {plain, smart, smartText: ctx.smartEncode(t), label: ctx.describeCounter(t, true).label};
});
if (process.argv[3]) {  // describeCost over a JSON list of [segments, country, costs]
  const cases = JSON.parse(process.argv[3]);
  process.stdout.write(JSON.stringify(cases.map((c) => ctx.describeCost(...c))));
  process.exit(0);
}
if (process.argv[2]) {  // composeMessage over a JSON list of [body, code, fmt, words]
  const cases = JSON.parse(process.argv[2]);
  process.stdout.write(JSON.stringify(cases.map((c) => ctx.composeMessage(...c))));
  process.exit(0);
}
process.stdout.write(JSON.stringify(out));
"""

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def browser_compose(cases: list) -> list[str]:
    result = subprocess.run(
        ["node", "-e", NODE_RUNNER, str(CONSOLE_JS), json.dumps(cases)],
        input="[]",
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(result.stdout)


def browser_counts(texts: list[str]) -> list[dict]:
    result = subprocess.run(
        ["node", "-e", NODE_RUNNER, str(CONSOLE_JS)],
        input=json.dumps(texts),  # ASCII escapes: lone characters survive the pipe
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(result.stdout)


def server_counts(text: str) -> dict:
    parts = sms_parts(text)
    return {**{f: getattr(parts, f) for f in FIELDS}, "payload_bytes": parts.payload_bytes}


def server_label(text: str) -> str:
    """The sentence the wizard renders before the script runs (console/previews.py)."""
    return MessagePreview(
        locale="en",
        label="",
        text=smart_encode(text),
        parts=sms_parts(smart_encode(text)),
        original_parts=sms_parts(text),
        replaced=sum(1 for ch in text if ch in SMART_REPLACEMENTS),
        problems=[],
    ).counter_label


def assert_agree(texts: list[str]) -> None:
    for text, browser in zip(texts, browser_counts(texts), strict=True):
        assert {k: browser["plain"][k] for k in (*FIELDS, "payload_bytes")} == server_counts(
            text
        ), text
        assert browser["smartText"] == smart_encode(text), text
        assert {k: browser["smart"][k] for k in (*FIELDS, "payload_bytes")} == server_counts(
            smart_encode(text)
        ), text
        assert browser["label"] == server_label(text), text


LOOKALIKES = "".join(SMART_REPLACEMENTS)
GSM = "".join(sorted(GSM7_BASIC | GSM7_EXTENSION))
unicode_text = (
    st.text(max_size=400)
    | st.text(alphabet=GSM, max_size=400)
    | st.text(alphabet=GSM + LOOKALIKES, max_size=400)
    | st.text(alphabet=st.characters(min_codepoint=0x1F000, max_codepoint=0x1FAFF), max_size=80)
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(unicode_text, min_size=1, max_size=40))
def test_browser_and_server_counters_agree_on_generated_unicode(texts):
    assert_agree(texts)


def test_counters_agree_on_the_edges():
    edges = [
        "",  # the empty text: 0 characters of GSM-7 in 0 segments, on both sides
        "a" * 160,
        "a" * 161,
        "€" * 80,
        "a" * 152 + "€" + "a" * 10,
        "я" * 70,
        "я" * 71,
        "🔐" * 35,
        "🔐" * 36,
        "a" * 66 + "🔐" + "a" * 10,
        "It’s “here” — wait…",
        "\u00a0" * 161,
    ]
    assert_agree(edges)


def test_empty_text_is_zero_segments_and_the_api_never_sends_one():
    parts = sms_parts("")
    assert (parts.encoding, parts.characters, parts.segments) == ("gsm7", 0, 0)


def test_every_replacement_is_gsm7_and_replaces_a_character_that_is_not():
    for lookalike, replacement in SMART_REPLACEMENTS.items():
        assert len(lookalike) == 1 and not is_gsm7(lookalike)
        assert replacement and is_gsm7(replacement)


def test_curly_quote_message_goes_back_to_one_gsm7_segment():
    text = "Your code is 123456. Don’t share it — “we” never ask for it… Thanks!" * 2
    assert sms_parts(text).encoding == "ucs2" and sms_parts(text).segments == 3
    smart = smart_encode(text)
    assert sms_parts(smart).encoding == "gsm7" and sms_parts(smart).segments == 1


@given(st.text(alphabet=GSM + LOOKALIKES, max_size=300))
def test_text_of_gsm7_and_lookalikes_is_gsm7_after_smart_encoding(text):
    assert sms_parts(smart_encode(text)).encoding == "gsm7"


@given(st.text(max_size=300))
def test_characters_without_a_gsm_equivalent_are_never_altered(text):
    for ch in text:
        if ch not in SMART_REPLACEMENTS:
            assert smart_encode(ch) == ch
    # Character by character: nothing is dropped, merged or moved.
    assert smart_encode(text) == "".join(smart_encode(ch) for ch in text)


def test_browser_composes_the_message_as_the_server_does():
    formats = [
        MessageFormat(),
        MessageFormat(do_not_share=True),
        MessageFormat(webotp_domain="example.com"),
        MessageFormat(retriever_app_hash="FA+9qCX9VSu"),
        MessageFormat(retriever_app_hash="FA+9qCX9VSu", retriever_prefix=True),
        MessageFormat(
            do_not_share=True,
            webotp_domain="login.example.com",
            retriever_app_hash="FA+9qCX9VSu",
            retriever_prefix=True,
        ),
    ]
    cases, expected = [], []
    for fmt in formats:
        for locale in ("en", "fr-CA", "ja"):
            body = "Your code is 482913"
            cases.append(
                [
                    body,
                    "482913",
                    {
                        "doNotShare": fmt.do_not_share,
                        "domain": fmt.webotp_domain,
                        "appHash": fmt.retriever_app_hash,
                        "prefix": fmt.retriever_prefix,
                    },
                    wording.do_not_share(locale),
                ]
            )
            expected.append(compose_sms(body, code="482913", locale=locale, fmt=fmt))
    assert browser_compose(cases) == expected


def test_the_api_doc_lists_every_replacement():
    doc = (CONSOLE_JS.parent.parent.parent / "docs" / "api.md").read_text(encoding="utf-8")
    documented = {
        chr(int(code, 16)): replacement
        for code, replacement in re.findall(
            r"^\| `U\+([0-9A-F]{4})`[^|]*\|[^|]*\| (.+?) \|$", doc, re.M
        )
    }
    assert set(documented) == set(SMART_REPLACEMENTS)
    for char, replacement in documented.items():
        expected = SMART_REPLACEMENTS[char]
        assert replacement == ("a space" if expected == " " else f"`{expected}`"), char


@settings(max_examples=60, deadline=None)
@given(
    prices=st.lists(st.one_of(st.none(), st.integers(0, 10**8)), min_size=1, max_size=4),
    segments=st.integers(0, 12),
)
def test_browser_and_server_estimate_a_message_cost_alike(prices, segments):
    costs = {
        "currency": "EUR",
        "countries": {f"C{i}": {"name": f"Land {i}", "price": p} for i, p in enumerate(prices)},
    }
    cases = [[segments, country, costs] for country in [*costs["countries"], "ZZ"]]
    result = subprocess.run(
        ["node", "-e", NODE_RUNNER, str(CONSOLE_JS), "", json.dumps(cases)],
        input="[]",
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(result.stdout) == [describe_cost(*case) for case in cases]
