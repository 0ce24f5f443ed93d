"""Customer ratings (house rule 10): stored per conversation; a low rating with a comment is a ticket.

Rules: a rating is a whole number from 1 to 5; a comment is kept to 2,000 characters; a comment
that arrives after a rating is attached to that conversation's latest rating if it has none yet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.store.models import Customer, Feedback

LOW_RATING = 2
MAX_COMMENT = 2000
_RATING = re.compile(r"^\s*([1-5])\s*(?:/\s*5|stars?|out of 5)?\s*[.!]?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class FeedbackResult:
    rating: int
    has_comment: bool

    @property
    def low(self) -> bool:
        return self.rating <= LOW_RATING


def clean_rating(value: Any) -> int | None:
    """"4", 4, "4 stars" → 4; anything outside 1–5 → None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value) if float(value).is_integer() and 1 <= value <= 5 else None
    match = _RATING.match(str(value or ""))
    return int(match.group(1)) if match else None


def leading_rating(text: str) -> int | None:
    """The rating a typed message starts with ("4", "2/5 - it was slow", "5 stars!"), or None."""
    match = re.match(r"^\s*([1-5])\s*(?:/\s*5|stars?|out of 5)?(?:\s*[-:,.!]|\s*$)", text or "", re.IGNORECASE)
    return int(match.group(1)) if match else None


def comment_of(text: str, rating: int | None) -> str | None:
    """The free text of a feedback message, without the bare rating; None when there is none."""
    stripped = re.sub(r"^\s*[1-5]\s*(/\s*5|stars?|out of 5)?\s*[-:,.!]*\s*", "", text or "") if rating else text
    stripped = (stripped or "").strip()
    return stripped[:MAX_COMMENT] if len(stripped) >= 3 else None


def record_feedback(
    session: Session, conversation_id: str, customer_email: str | None, rating: int | None, comment: str | None
) -> FeedbackResult | None:
    """Store a rating (with its comment), or attach a comment to the latest rating; None if neither fits."""
    if rating is None:
        latest = session.scalars(
            select(Feedback).where(Feedback.conversation_id == conversation_id).order_by(Feedback.id.desc())
        ).first()
        if latest is None or latest.comment or not comment:
            return None
        latest.comment = comment
        return FeedbackResult(rating=latest.rating, has_comment=True)
    customer = (
        session.scalars(select(Customer).where(Customer.email == customer_email)).one_or_none()
        if customer_email
        else None
    )
    session.add(Feedback(conversation_id=conversation_id, customer=customer, rating=rating, comment=comment))
    return FeedbackResult(rating=rating, has_comment=bool(comment))
