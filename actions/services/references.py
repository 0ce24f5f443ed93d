"""References customers are told (tickets ``BD-10427``, returns ``RMA-38215``): random, never sequential.

Rules: a reference is the prefix and a number of ``digits`` digits (no leading zero) drawn with
:mod:`secrets`, so one reference tells nothing about the next or about how many exist; it is
unique: a number already stored in ``column`` is drawn again, checked in the caller's
transaction (the column's unique index is the last word if two conversations draw the same new
number at the same moment). After ``attempts`` collisions in a row (a nearly full range) the
number grows one digit, up to :data:`MAX_DIGITS`.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

MAX_DIGITS = 9


class ReferencesExhausted(RuntimeError):
    """No free reference could be drawn (only with a store holding nearly every number)."""


def new_reference(
    session: Session, column: InstrumentedAttribute, prefix: str, *, digits: int = 5, attempts: int = 20
) -> str:
    """A fresh random reference ``prefix`` + ``digits`` digits that ``column`` does not hold yet."""
    width = digits
    while width <= MAX_DIGITS:
        low = 10 ** (width - 1)
        for _ in range(attempts):
            candidate = f"{prefix}{low + secrets.randbelow(9 * low)}"
            if session.scalar(select(column).where(column == candidate).limit(1)) is None:
                return candidate
        width += 1
    raise ReferencesExhausted(f"no free {prefix} reference left")
