"""Guessing protection for ownership checks (house rule 11), across conversations.

A conversation stops lookups after three failed checks; a new conversation would start afresh, so
failures are also counted per order number and per email address in the store. Once an order
number or an address has collected ``LIMIT`` failures within ``WINDOW``, checks against it are
refused until the window has passed, from any conversation. Addresses are kept as hashes only.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from actions.store.models import AccessFailure, utcnow

LIMIT = 5
WINDOW = dt.timedelta(minutes=30)


def _keys(number: str, email: str) -> list[str]:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return [f"order:{number}", f"email:{digest}"]


def locked(session: Session, number: str, email: str, now: dt.datetime | None = None) -> bool:
    """True while the order number or the address is cooling off after repeated failures."""
    since = (now or utcnow()) - WINDOW
    for key in _keys(number, email):
        count = session.scalar(
            select(func.count(AccessFailure.id)).where(AccessFailure.key == key, AccessFailure.created_at >= since)
        )
        if (count or 0) >= LIMIT:
            return True
    return False


def record_failure(session: Session, number: str, email: str, now: dt.datetime | None = None) -> None:
    """Count one failed check against the order number and against the address."""
    for key in _keys(number, email):
        session.add(AccessFailure(key=key, created_at=now or utcnow()))
