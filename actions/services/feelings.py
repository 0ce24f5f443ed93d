"""Acknowledgments: which one (if any) a message deserves, and when frustration calls for a person.

Rules (house rule 1):
- a message that carries a problem or a negative feeling gets an acknowledgment fitted to the
  issue (late delivery, damaged item, double charge, product not working, general complaint)
  and to the intensity (mild vs strong);
- a neutral request gets none ("how much is the dock?", "where is order 10042?");
- frustration that is extreme, or strong two turns running, means a person is offered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from actions.services.orders import is_double_charge, problem_kind

NEUTRAL = "neutral"
LEVELS = ("neutral", "mild", "strong", "extreme")

_NOT_ARRIVED = re.compile(
    r"\b(has(n'?t| not)|still (not|hasn'?t)|never|not yet|didn'?t|did not) (arrived?|come|shown up|turned up|got here)"
    r"|\b(late|overdue|delayed|still waiting|waiting for weeks|where('?s| is) my (order|parcel|package|stuff))\b",
    re.IGNORECASE,
)

_LEGAL = re.compile(
    r"\b(lawyers?|attorneys?|solicitors?|sue|suing|lawsuit|legal action|small claims|court|chargeback"
    r"|trading standards|consumer protection|better business bureau)\b",
    re.IGNORECASE,
)

# Intents whose message is a problem in itself, whatever the tone.
PROBLEM_INTENTS = {"report_problem", "tech_support", "complain"}


@dataclass(frozen=True)
class FeelingRead:
    """The feeling of the latest message, as the NLU component scored it."""

    label: str = NEUTRAL
    score: float = 0.0

    @classmethod
    def from_parse_data(cls, parse_data: dict[str, Any] | None) -> FeelingRead:
        feeling = (parse_data or {}).get("feeling") or {}
        label = feeling.get("label") if feeling.get("label") in LEVELS else NEUTRAL
        try:
            score = float(feeling.get("score", 0.0))
        except (TypeError, ValueError):
            score = 0.0
        return cls(label=label, score=score)

    @property
    def negative(self) -> bool:
        return self.label != NEUTRAL

    @property
    def intense(self) -> bool:
        return self.label in {"strong", "extreme"}


def issue_type(intent: str | None, text: str) -> str | None:
    """The kind of problem a message reports, or None when it reports none."""
    if intent in {"order_status", "report_problem"} and _NOT_ARRIVED.search(text or ""):
        return "late_delivery"
    if intent == "billing_issue":
        return "double_charge" if is_double_charge(text) else "billing"
    if intent == "report_problem":
        return "damaged" if problem_kind(text) == "damaged" else "item_problem"
    if intent == "tech_support":
        return "not_working"
    if intent == "complain":
        return "complaint"
    return None


def acknowledgment(intent: str | None, text: str, feeling: FeelingRead) -> str | None:
    """The acknowledgment response for this message, or None for a neutral request."""
    issue = issue_type(intent, text)
    if issue is None and not feeling.negative:
        return None
    if issue is None or (issue == "billing" and not feeling.negative):
        issue = "general" if feeling.negative else None
    if issue is None:
        return None
    level = "strong" if feeling.intense else "mild"
    return f"utter_ack_{issue}_{level}"


def mentions_legal(text: str) -> bool:
    """A legal threat or claim: a person (the manager) handles it, never the assistant alone."""
    return bool(_LEGAL.search(text or ""))


def wants_person(current: FeelingRead, previous: FeelingRead | None) -> bool:
    """Extreme frustration, or strong frustration two turns in a row."""
    if current.label == "extreme":
        return True
    return current.intense and previous is not None and previous.intense
