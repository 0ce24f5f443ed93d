"""Store policies quoted to customers, straight from the ``policies`` table (one source of truth).

The topic is read from the customer's words with a keyword map: the set of topics is small and
fixed, and a keyword never misroutes "how long does delivery take" to the warranty.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.services.orders import Answer
from actions.store.models import Policy

# First match wins, so the more specific topics come first.
TOPIC_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("damaged", re.compile(r"\b(damaged|broken|arrives? (broken|damaged)|wrong item|missing)\b", re.I)),
    ("cancellation", re.compile(r"\bcancel\w*\b", re.I)),
    ("returns", re.compile(r"\b(returns?|refunds?|send (it|things|something) back|money back)\b", re.I)),
    ("warranty", re.compile(r"\b(warrant\w*|guarantee\w*)\b", re.I)),
    ("payment", re.compile(r"\b(pay|paying|payment\w*|paypal|credit card|cards?|bank transfer|visa|amex)\b", re.I)),
    ("hours", re.compile(r"\b(hours|open|opening|closed?|working days|weekends?)\b", re.I)),
    ("shipping", re.compile(r"\b(ship\w*|deliver\w*|postage|express|courier|how long)\b", re.I)),
]


def topic_of(text: str) -> str | None:
    """The policy key a question is about, or None when no topic is recognisable."""
    for key, pattern in TOPIC_PATTERNS:
        if pattern.search(text or ""):
            return key
    return None


def policy_answer(session: Session, text: str) -> Answer:
    """The policy text for the question, or the list of topics we can answer when unclear."""
    key = topic_of(text)
    policy = session.scalars(select(Policy).where(Policy.key == key)).one_or_none() if key else None
    if policy is None:
        return Answer("utter_policy_topics")
    return Answer("utter_policy", {"title": policy.title, "policy": policy.body})
