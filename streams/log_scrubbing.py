"""Logs never carry a secret: every log record, whoever logs it (ours, Django, Celery,
urllib3's debug lines with the full request URL), is scrubbed of passwords, tokens,
codes and receipt secrets before any handler sees it.

Installed by the settings (``LOGGING_CONFIG``) in every process Django starts: the
filter goes on every handler of the configuration, and the record factory scrubs
records meant for handlers added later by others (Celery's worker replaces the root
handlers with its own).
"""

from __future__ import annotations

import logging
import logging.config
import re

MASK = "***"

# Query and form parameters whose value is a secret or carries a code.
SENSITIVE_NAMES = (
    "password|passwd|pass|pwd|secret|api_secret|client_secret|signing_secret|auth_token|"
    "access_token|token|api_key|apikey|key|auth|signature|text|body|code|twiml"
)
SEPARATOR = r"(?:[?&;]|%3F|%26)"  # also inside a URL-encoded URL (Kannel's dlr-url)
EQUALS = r"(?:=|%3D)"

PATTERNS: list[tuple[re.Pattern, str]] = [
    # ?password=...&text=Your+code+is+123456
    (
        re.compile(rf"({SEPARATOR}(?:{SENSITIVE_NAMES}){EQUALS})[^&\s'\"#]*", re.IGNORECASE),
        rf"\1{MASK}",
    ),
    # Our delivery-report URLs: /gateways/<id>/receipts/<secret>/ (also URL-encoded).
    (re.compile(r"(receipts(?:/|%2F)+)[A-Za-z0-9_-]+", re.IGNORECASE), rf"\1{MASK}"),
    # Authorization headers, in a header dump or a dict's repr.
    (
        re.compile(
            r"(authorization['\"]?\s*[:=]\s*['\"]?)(?:(?:basic|bearer|token)\s+)?[^'\"\s,}]+",
            re.IGNORECASE,
        ),
        rf"\1{MASK}",
    ),
    # JSON or repr'd dicts: "password": "...", 'text': '...'
    (
        re.compile(
            rf"(['\"](?:{SENSITIVE_NAMES})['\"]\s*:\s*)(['\"])(?:\\.|(?!\2).)*\2", re.IGNORECASE
        ),
        rf"\1\2{MASK}\2",
    ),
    # Free text: password=..., secret: ...
    (
        re.compile(
            r"\b((?:password|passwd|secret|api_secret|auth_token|signing_secret)\s*[=:]\s*)"
            r"[^\s&,;'\"]+",
            re.IGNORECASE,
        ),
        rf"\1{MASK}",
    ),
    # Stream API tokens, wherever they appear.
    (re.compile(r"\bots_[A-Za-z0-9_-]{8,}"), f"ots_{MASK}"),
]


def scrub(text: str) -> str:
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def scrub_record(record: logging.LogRecord) -> logging.LogRecord:
    """Render the message (and the traceback) now, scrubbed, so no handler or formatter
    ever sees the raw arguments. Idempotent."""
    if getattr(record, "scrubbed", False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: leave it to the handler's error path
        return record
    record.msg, record.args = scrub(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = scrub(record.exc_text)
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
    record.scrubbed = True
    return record


class ScrubSecrets(logging.Filter):
    """The handler filter: scrubs the record and lets it through."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)
        return True


_make_record = logging.getLogRecordFactory()


def _scrubbing_record_factory(*args, **kwargs) -> logging.LogRecord:
    return scrub_record(_make_record(*args, **kwargs))


def configure_logging(config: dict) -> None:
    """``LOGGING_CONFIG``: the settings' dictConfig, then the scrubber on every handler
    already attached anywhere and on every record created from now on."""
    logging.config.dictConfig(config)
    if logging.getLogRecordFactory() is not _scrubbing_record_factory:
        logging.setLogRecordFactory(_scrubbing_record_factory)
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, ScrubSecrets) for f in handler.filters):
                handler.addFilter(ScrubSecrets())
