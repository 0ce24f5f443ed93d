"""The input gate: what a customer channel may hand to Rasa, decided before anything stores or parses it.

Rules (house rule "bad input gets a clear answer and changes nothing"):

- **Sender ids** are 1–128 characters of ``A–Z a–z 0–9 . _ : @ + = -`` starting with a letter or
  digit. Anything else (empty, a lone surrogate, a NUL, spaces, markup) is refused: the tracker
  store must never see an id it cannot encode (Rasa 3.6 exits on such an error).
- **Message text** must be a string of well-formed Unicode: lone surrogates and NUL characters are
  refused. Other control characters become spaces; invisible format characters (zero-width
  spaces, bidirectional overrides) are removed, except the zero-width joiner that emoji need; the
  text is NFC-normalised, runs of spaces become one space and runs of blank lines one line break
  (nothing downstream reads layout, and long whitespace runs are what makes regexes backtrack),
  and it is stripped. Empty text is refused, and so is text longer than
  :data:`MAX_MESSAGE_CHARS` (checked before any other work, so a megabyte costs nothing).
- **Slash commands** (``/intent{...}``) are how Rasa's buttons send an intent. A customer may send
  only the ones our own buttons send: a customer intent of the contract with, at most, a
  ``contact_channel`` (email, phone, chat), a ``rating`` (1–5) or a ``product`` name. Anything else starting with ``/``
  (``/restart``, ``/session_start``, ``/EXTERNAL_…``, other entities or slot values, confidence
  suffixes) is not a command: the slash is dropped and the rest is read as ordinary words.

A refusal carries an HTTP status and a detail for integrators (REST) and a sentence for a
customer (widget, Slack, shell). Every check here is linear in the (capped) input.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

MAX_MESSAGE_CHARS = 2000
MAX_SENDER_CHARS = 128
MAX_METADATA_BYTES = 4096
SENDER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+=-]{0,127}")

# The intents a customer may send as a button payload: the language contract's intents
# (shared/DESIGN.md §3). Rasa's internal ones (restart, session_start, back, nlu_fallback) and
# EXTERNAL_* intents used by staff through the HTTP API are not among them.
CUSTOMER_INTENTS = frozenset(
    """greet goodbye thank affirm deny bot_challenge out_of_scope order_status report_problem return_item
    cancel_order billing_issue tech_support complain request_human ask_manager ticket_status product_search
    product_info check_stock check_price compare_products request_discount buy_product give_feedback
    contact_preference inform""".split()
)
# Entities a payload may carry, with the values our buttons send: the contact channels, the
# ratings, and a product name (the price and stock actions offer the candidates of an ambiguous
# name as buttons; a product name is what the customer could have typed anyway).
PAYLOAD_ENTITIES: dict[str, Callable[[str], bool]] = {
    "contact_channel": frozenset({"email", "phone", "chat"}).__contains__,
    "rating": frozenset({"1", "2", "3", "4", "5"}).__contains__,
    "product": lambda name: 0 < len(name) <= 120 and name.isprintable() and not name.startswith("/"),
}
_PAYLOAD = re.compile(r"/([a-z_]{1,40})(\{[^{}]{0,200}\})?")
_KEEP_FORMAT_CHARS = {"\u200d"}  # zero-width joiner: part of emoji sequences
_SPACES = re.compile(r"[^\S\n]+")  # whitespace other than line breaks
_BLANK_LINES = re.compile(r"\s*\n\s*")


@dataclass(frozen=True)
class Refusal:
    """Why a message or sender was not accepted: for an integrator and for a customer."""

    reason: str  # "sender", "malformed", "empty", "too_long"
    status: int  # the HTTP status the REST channel answers
    detail: str  # for integrators (REST), names the field and the rule
    customer_text: str  # for a customer in the widget, Slack or the shell


def too_long_text(support_email: str) -> str:
    """What a customer hears when a message is over the cap."""
    return (
        f"That message is longer than I can read in one go (my limit is {MAX_MESSAGE_CHARS:,} characters). "
        f"Please send it in shorter parts, or if it's a long document, email it to {support_email}."
    )


UNREADABLE_TEXT = (
    "I couldn't read that message: some of its characters aren't valid text. Could you type it again?"
)
EMPTY_TEXT = "I didn't get any words in that message. What can I help you with?"


def check_sender(sender: object) -> Refusal | None:
    """``None`` when ``sender`` is an acceptable conversation id; otherwise why not."""
    if isinstance(sender, str) and len(sender) <= MAX_SENDER_CHARS and SENDER_ID.fullmatch(sender):
        return None
    return Refusal(
        "sender",
        400,
        f"'sender' must be 1–{MAX_SENDER_CHARS} characters of letters, digits and . _ : @ + = - "
        "(an unguessable id your system issues per customer)",
        UNREADABLE_TEXT,
    )


def clean_message(text: object, support_email: str) -> str | Refusal:
    """The message as Rasa should see it, or why it is refused (see the module docstring)."""
    if not isinstance(text, str):
        return Refusal("malformed", 400, "'message' must be a string", UNREADABLE_TEXT)
    if len(text) > MAX_MESSAGE_CHARS * 2:  # cheap early exit: cleaning can only shorten it so much
        return _too_long(support_email)
    if "\x00" in text or any("\ud800" <= char <= "\udfff" for char in text):
        return Refusal(
            "malformed", 400, "'message' holds a NUL or an unpaired surrogate: send well-formed text",
            UNREADABLE_TEXT,
        )
    cleaned = "".join(_clean_char(char) for char in unicodedata.normalize("NFC", text))
    cleaned = _BLANK_LINES.sub("\n", _SPACES.sub(" ", cleaned)).strip()
    if not cleaned:
        return Refusal("empty", 400, "'message' is empty", EMPTY_TEXT)
    if len(cleaned) > MAX_MESSAGE_CHARS:
        return _too_long(support_email)
    return _defuse_command(cleaned)


def _too_long(support_email: str) -> Refusal:
    return Refusal(
        "too_long", 413, f"'message' is longer than {MAX_MESSAGE_CHARS} characters: send it in parts",
        too_long_text(support_email),
    )


def _clean_char(char: str) -> str:
    category = unicodedata.category(char)
    if category == "Cc":
        return char if char == "\n" else " "
    if category == "Cf" and char not in _KEEP_FORMAT_CHARS:
        return ""
    return char


def is_customer_payload(text: str) -> bool:
    """Whether ``text`` is a button payload a customer may send (see the module docstring)."""
    match = _PAYLOAD.fullmatch(text)
    if match is None or match.group(1) not in CUSTOMER_INTENTS:
        return False
    if match.group(2) is None:
        return True
    try:
        entities = json.loads(match.group(2))
    except ValueError:
        return False
    return isinstance(entities, dict) and all(
        name in PAYLOAD_ENTITIES and isinstance(value, str) and PAYLOAD_ENTITIES[name](value)
        for name, value in entities.items()
    )


def _defuse_command(text: str) -> str:
    """Customer payloads as they are; any other leading slash dropped so Rasa reads words, not a command."""
    if not text.startswith("/") or is_customer_payload(text):
        return text
    words = text.lstrip("/").strip()
    return words or "/"  # a lone slash: harmless (Rasa's pattern needs a name after it)
