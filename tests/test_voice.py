"""The voice adapters' requests: the code read character by character with pauses,
repeated, at the stream's rate, in a language the provider speaks."""

from types import SimpleNamespace

import pytest

from gateways.adapters import REGISTRY, PermanentError
from gateways.adapters.twilio import twiml
from gateways.voice import VoiceScript

SCRIPT = VoiceScript(
    intro="Hello. Here is your verification code.",
    pieces=("Your code is ", "."),
    code="4821",
    repeat=2,
    rate="slow",
)


def message(language: str, gender: str = "female", script: VoiceScript = SCRIPT):
    return SimpleNamespace(
        voice_language=language,
        voice_gender=gender,
        voice=script.as_dict(),
        text=script.plain_text(),
    )


def test_polly_twiml_reads_the_code_with_breaks_and_prosody_twice():
    reading = (
        'Your code is 4<break time="400ms"/>8<break time="400ms"/>2<break time="400ms"/>'
        '1<break time="400ms"/>.'
    )
    assert twiml(message("en-US"), "polly") == (
        '<Response><Say voice="Polly.Joanna" language="en-US"><prosody rate="slow">'
        'Hello. Here is your verification code.<break time="1000ms"/>'
        + reading
        + '<break time="1000ms"/>'
        + reading
        + "</prosody></Say></Response>"
    )


def test_basic_voices_repeat_each_reading_with_a_pause_between():
    assert twiml(message("fr-FR", "male")) == (
        '<Response><Say voice="man" language="fr-FR">Hello. Here is your verification code.'
        '</Say><Pause length="1"/><Say voice="man" language="fr-FR">Your code is 4, 8, 2, 1.'
        '</Say><Pause length="1"/><Say voice="man" language="fr-FR">Your code is 4, 8, 2, 1.'
        "</Say></Response>"
    )


def test_a_language_only_polly_speaks_uses_polly_and_bare_languages_pick_a_voice():
    assert twiml(message("ja"), "basic").startswith(
        '<Response><Say voice="Polly.Mizuki" language="ja-JP"><prosody'
    )
    assert twiml(message("ar")).startswith('<Response><Say voice="Polly.Zeina" language="arb">')


def test_a_language_twilio_lacks_is_a_clear_permanent_error():
    with pytest.raises(PermanentError, match="no voice for the language 'xh-ZA'"):
        twiml(message("xh-ZA"))


def test_plain_text_of_the_script_for_the_outbox_and_webhook():
    assert SCRIPT.plain_text() == (
        "Hello. Here is your verification code. Your code is 4, 8, 2, 1. Your code is 4, 8, 2, 1."
    )


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_every_voice_adapter_declares_its_languages(kind):
    adapter = REGISTRY[kind]
    if adapter.voice:
        languages = adapter.voice_languages
        assert languages is None or ("en-US" in languages and adapter.speaks("en") is not None)
