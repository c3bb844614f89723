"""The SMS as the recipient sees it: the rendered template text, the optional
"do not share" line, and the autofill formats.

- Android SMS Retriever (https://developers.google.com/identity/sms-retriever/verify):
  the app's 11-character hash on its own line after the text, optionally ``<#> `` in
  front (what Android versions before Play services 2019 looked for); the whole
  message at most 140 bytes (one segment). The 140 bytes are checked by the wizard
  (``console``), which has the segment counter.
- WebOTP, the WICG "origin-bound one-time code" (https://wicg.github.io/sms-one-time-codes/):
  the last line is ``@<host> #<code>``, after a blank line.

The send path (``otp.services``), the wizard's previews and the console's counter
(``static/js/console.js``, ``composeMessage``) all build the message this way.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import wording

RETRIEVER_PREFIX = "<#> "


@dataclass(frozen=True)
class MessageFormat:
    do_not_share: bool = False
    webotp_domain: str = ""
    retriever_app_hash: str = ""  # empty: SMS Retriever off
    retriever_prefix: bool = False

    @classmethod
    def of(cls, stream, template=None) -> MessageFormat:
        """The format a stream (and one of its event templates) gives its messages."""
        domain = (template.webotp_domain if template is not None else "") or stream.webotp_domain
        return cls(
            do_not_share=stream.do_not_share,
            webotp_domain=domain,
            retriever_app_hash=stream.retriever_app_hash if stream.retriever_enabled else "",
            retriever_prefix=stream.retriever_enabled and stream.retriever_prefix,
        )


def webotp_line(domain: str, code: str) -> str:
    return f"@{domain} #{code}"


def compose_sms(body: str, *, code: str, locale: str, fmt: MessageFormat) -> str:
    """``body`` (the rendered text) with the lines ``fmt`` asks for, in order: the
    retriever prefix, the text, the do-not-share line, the app hash, the WebOTP line
    (which must be last)."""
    text = body
    if fmt.do_not_share:
        text += "\n" + wording.do_not_share(locale)
    if fmt.retriever_app_hash:
        if fmt.retriever_prefix:
            text = RETRIEVER_PREFIX + text
        text += "\n\n" + fmt.retriever_app_hash
    if fmt.webotp_domain:
        text += "\n\n" + webotp_line(fmt.webotp_domain, code)
    return text
