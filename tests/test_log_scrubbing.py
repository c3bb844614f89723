"""Logs never carry a secret: the scrubbing of passwords, tokens, codes and receipt
secrets, case by case, and on records of any logger (the real Kannel path at DEBUG is
in test_kannel.py)."""

import logging

import pytest

from streams.log_scrubbing import scrub

CASES = [
    (
        '"GET /cgi-bin/sendsms?username=otp&password=hunter2&to=%2B1415&text=Your+code+is+'
        '482913&dlr-url=http%3A%2F%2Fx%2Fgateways%2F3%2Freceipts%2FAbC-d_9%2F%3Fid%3D1 HTTP/1.1"',
        ["hunter2", "482913", "AbC-d_9"],
    ),
    ("POST https://api.example/sms?api_key=k1&api_secret=s3cr3t&pwd=p4", ["s3cr3t", "p4"]),
    ("/gateways/7/receipts/Zx9_secret-Part/?id=1&type=1", ["Zx9_secret-Part"]),
    ("headers={'Authorization': 'Basic dXNlcjpwYXNz', 'Accept': '*/*'}", ["dXNlcjpwYXNz"]),
    ("Authorization: Bearer ots_abcdefghijklmnop", ["ots_abcdefghijklmnop", "abcdefghijklmnop"]),
    (
        '{"to": "+1415", "text": "Your code is 77\\"1234", "signing_secret": "whsec"}',
        ["1234", "whsec"],
    ),
    ("connect failed: password=hunter2 secret: s3cr3t", ["hunter2", "s3cr3t"]),
    ("https://h/x?token=t0k3n&code=998877&auth=a1", ["t0k3n", "998877", "a1"]),
]


@pytest.mark.parametrize(("line", "secrets"), CASES)
def test_secrets_are_scrubbed_and_the_rest_is_kept(line, secrets):
    scrubbed = scrub(line)
    assert [secret for secret in secrets if secret in scrubbed] == []
    assert "***" in scrubbed


def test_ordinary_lines_are_left_alone():
    line = "message 5b79b423 failed: twilio-1: HTTP 503 to +14155552671 (GET /api/v1/otp/1)"
    assert scrub(line) == line


def test_a_third_party_loggers_record_reaches_any_handler_scrubbed():
    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(self.format(record))

    handler = Keep()  # a handler no settings know of, as Celery's worker adds
    logger = logging.getLogger("urllib3.connectionpool")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug('%s "GET %s HTTP/1.1"', "http://k:13013", "/sendsms?password=hunter2")
        try:
            raise ValueError("bad url http://k/sendsms?password=hunter2")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert len(seen) == 2 and "hunter2" not in "".join(seen)
