"""No personal data in any log line, Rasa's and libraries' included (house rule 11).

:func:`mask` replaces what identifies a person in a piece of text: e-mail addresses become
``[email]``, phone-like digit runs (9 to 15 digits, with the usual separators) become ``[phone]``,
and the customer's own words in the log lines known to quote them (Rasa's "Received user message
'…'", structured ``text=…`` / ``"text": "…"`` fields, our channels' ``message=…``) become
``[message]``.

:func:`install_log_privacy` applies it at two places, so nothing gets past:

- Rasa's structured log events (structlog) hold the customer's words under keys such as
  ``parse_data_text`` and ``user_text``, rendered unquoted in a terminal. Rasa passes those keys
  through an anonymization pipeline obtained from its plugin hook ``get_anonymization_pipeline``
  (``rasa.utils.log_utils._anonymizer``); :class:`RasaLogAnonymizer` is registered for that hook:
  message texts become ``[message]``, and e-mails and phones inside entities, slots and events
  are masked.
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

import pluggy

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
)
_INSTALLED = False
# Keys whose value is a customer's (or the bot's) words, inside Rasa's structured events.
_TEXT_KEYS = frozenset({"text", "user_text", "parse_data_text", "response_text", "user_message", "message"})


def mask(text: str) -> str:
    """``text`` with e-mails, phone numbers and quoted customer messages replaced by placeholders."""
    for pattern in _QUOTED_MESSAGE:
        text = pattern.sub(r"\1[message]\3", text)
    text = _EMAIL.sub("[email]", text)
    return _PHONE.sub("[phone]", text)


def mask_value(value: Any, key: str | None = None) -> Any:
    """``value`` (a string, or lists and dicts of them) with message texts and contact details masked."""
    if isinstance(value, str):
        return "[message]" if key in _TEXT_KEYS and value else mask(value)
    if isinstance(value, dict):
        return {name: mask_value(item, name if isinstance(name, str) else None) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(item, key) for item in value]
    return value


class RasaLogAnonymizer:
    """Rasa's log anonymization pipeline (the ``get_anonymization_pipeline`` plugin hook)."""

    def log_run(self, value: Any) -> Any:
        """Mask one value of a structured log event; Rasa calls it only for keys that carry text."""
        if isinstance(value, str):
            return "[message]" if value else value
        return mask_value(value)


class _RasaPrivacyPlugin:
    """Registered with Rasa's plugin manager: answers its anonymization pipeline hook."""

    pipeline = RasaLogAnonymizer()

    @pluggy.HookimplMarker("rasa")
    def get_anonymization_pipeline(self) -> RasaLogAnonymizer:
        return self.pipeline


def _register_with_rasa() -> None:
    try:
        from rasa.plugin import plugin_manager
    except ImportError:  # a process without rasa (the action server needs only rasa-sdk)
        return
    manager = plugin_manager()
    if not any(isinstance(plugin, _RasaPrivacyPlugin) for plugin in manager.get_plugins()):
        manager.register(_RasaPrivacyPlugin())


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
    _register_with_rasa()
    factory = logging.getLogRecordFactory()
    if _INSTALLED or getattr(factory, "golden_rule_privacy", False):
        return
    logging.setLogRecordFactory(_masked_record_factory(factory))
    _INSTALLED = True
