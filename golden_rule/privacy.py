"""No personal data in any log line, Rasa's and libraries' included (house rule 11).

:func:`mask` replaces what identifies a person in a piece of text: e-mail addresses become
``[email]``, phone-like digit runs (9 to 15 digits, with the usual separators) become ``[phone]``,
and the customer's own words in the log lines known to quote them (Rasa's "Received user message
'…'", structured ``text=…`` / ``"text": "…"`` fields, our channels' ``message=…``) become
``[message]``.

:func:`install_log_privacy` applies it at two places, so nothing gets past:

- Rasa's structured log events (structlog) hold the customer's words under keys such as
  ``parse_data_text`` and ``user_text``, rendered unquoted in a terminal, so they cannot be found
  reliably in the rendered line. :func:`mask_structlog_event` goes first in structlog's processor
  chain: message texts become ``[message]``, and e-mails and phones inside entities, slots and
  events are masked. (Rasa's own ``get_anonymization_pipeline`` plugin hook is not used: when it
  answers, Rasa 3.6 also reads the whole tracker again on every turn for Rasa Pro's event
  anonymization.)
- every stdlib log record (Rasa's, rasa-sdk's, Sanic's, ours), through the logging module's record
  factory: the formatted message and any exception text are masked before a handler, filter or
  formatter sees them.

Idempotent; called by each server at start, never at import time.

Order numbers and ticket references are kept: they identify an order, not a person, and staff
need them to follow a conversation in the logs.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# Bounded repetitions and no nested quantifiers: linear in the length of the text.
_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}")
_PHONE = re.compile(r"(?<![\w.:/-])\+?\d(?:[ ().-]{0,2}\d){8,14}(?![\w:/-])")
# Log lines that quote the customer's message: the quoted part is replaced.
_QUOTED_MESSAGE = (
    # rasa.core.processor (DEBUG): Received user message 'text' with intent '...'
    re.compile(r"(Received user message ')(.*?)(' with intent)", re.DOTALL),
    # structlog JSON rendering: "text": "...", "user_message": "...", "message": "..."
    re.compile(r'("(?:text|user_text|user_message|message|utter)": ?")((?:[^"\\]|\\.)*)(")'),
    # structlog console rendering and our own key=value lines: text='...' / text="..."
    re.compile(r"(\b(?:text|user_text|user_message|message)=')((?:[^'\\]|\\.)*)(')"),
    re.compile(r'(\b(?:text|user_text|user_message|message)=")((?:[^"\\]|\\.)*)(")'),
    # Rasa's rule and memoization policies print dialogue states: "[state 3] user text: … | previous …"
    re.compile(r"(user text: )(.*?)( \| |\\n|\n|$)", re.MULTILINE),
)
_INSTALLED = False
# Keys whose value is a customer's (or the bot's) words, inside Rasa's structured events.
# Slot values are included: free-text slots hold what the customer wrote (a feedback comment, a
# contact detail).
_TEXT_KEYS = frozenset(
    {"text", "user_text", "parse_data_text", "response_text", "user_message", "message", "slot_values"}
)


# Secrets in URLs (Rasa's connection errors quote the action endpoint, ``?token=…`` included).
_TOKEN = re.compile(r"((?:\?|&)(?:token|auth_token|access_token)=)[^&\s'\"]{1,512}", re.IGNORECASE)


def mask(text: str) -> str:
    """``text`` with e-mails, phones, quoted customer messages and URL tokens replaced by placeholders."""
    text = _TOKEN.sub(r"\1[token]", text)
    for pattern in _QUOTED_MESSAGE:
        text = pattern.sub(r"\1[message]\3", text)
    text = _EMAIL.sub("[email]", text)
    return _PHONE.sub("[phone]", text)


def mask_value(value: Any, key: str | None = None) -> Any:
    """``value`` (a string, or lists and dicts of them) with message texts and contact details masked."""
    if isinstance(value, str):
        return "[message]" if key in _TEXT_KEYS and value else mask(value)
    if isinstance(value, dict):
        # Inside a text-bearing key (slot values) every string is the customer's; elsewhere each key decides.
        return {
            name: mask_value(item, key if key in _TEXT_KEYS else (name if isinstance(name, str) else None))
            for name, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [mask_value(item, key) for item in value]
    return value


def mask_structlog_event(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """A structlog processor: every value of the event masked (message texts, e-mails, phones)."""
    for key, value in event_dict.items():
        if key == "event":
            continue
        if value is None or isinstance(value, str | int | float | bool | list | tuple | dict):
            event_dict[key] = mask_value(value, key)
        else:  # Rasa events, trackers, messages: rendered from their text form, masked here first
            event_dict[key] = "[message]" if key in _TEXT_KEYS else mask(str(value))
    return event_dict


def _mask_structlog() -> None:
    """Put :func:`mask_structlog_event` first in structlog's processor chain (in place, idempotent).

    The chain is changed in place because loggers cached on first use hold the very same list;
    a new ``structlog.configure`` would not reach them.
    """
    try:
        import structlog
    except ImportError:  # pragma: no cover - rasa and rasa-sdk both depend on structlog
        return
    processors = structlog.get_config()["processors"]
    if mask_structlog_event not in processors and isinstance(processors, list):
        processors.insert(0, mask_structlog_event)


def _masked_record_factory(base: Any) -> Any:
    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = base(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed format/args pair: let logging report it as it always does
            return record
        record.msg, record.args = mask(message), None
        if record.exc_info and record.exc_info[1] is not None:
            # Format the traceback now, masked; formatters reuse exc_text instead of formatting again.
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
        return record

    make_record.golden_rule_privacy = True  # type: ignore[attr-defined]
    return make_record


def install_log_privacy() -> None:
    """Mask personal data in every log record this process creates from now on (idempotent)."""
    global _INSTALLED
    _mask_structlog()
    factory = logging.getLogRecordFactory()
    if _INSTALLED or getattr(factory, "golden_rule_privacy", False):
        return
    logging.setLogRecordFactory(_masked_record_factory(factory))
    _INSTALLED = True
