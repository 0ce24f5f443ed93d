"""Guessing protection for ownership checks (house rule 11), across conversations.

A conversation stops lookups after three failed checks; a new conversation would start afresh, so
failures are also counted in the store, per thing guessed at: per order number, per ticket
reference and per email address (one count per address, whatever was looked up with it). Once any
of the keys of a check has collected ``LIMIT`` failures within ``WINDOW``, checks against it are
refused until the window has passed, from any conversation. Addresses are kept as hashes only.

Every lookup that takes a typed identifier together with an email goes through here: orders
(:func:`order_keys`) and tickets (:func:`ticket_keys`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from actions.store.models import AccessFailure, utcnow

LIMIT = 5
WINDOW = dt.timedelta(minutes=30)


def _email_key(email: str) -> str:
    digest = hashlib.sha256((email or "").strip().lower().encode()).hexdigest()[:32]
    return f"email:{digest}"


def order_keys(number: str, email: str) -> list[str]:
    """The keys a check of order ``number`` with ``email`` counts against."""
    return [f"order:{number}", _email_key(email)]


def ticket_keys(reference: str, email: str) -> list[str]:
    """The keys a check of ticket ``reference`` with ``email`` counts against (the email key is the
    same as for orders: an address gets ``LIMIT`` failed checks in all)."""
    return [f"ticket:{(reference or '').strip().upper()}", _email_key(email)]


def locked(session: Session, keys: Sequence[str], now: dt.datetime | None = None) -> bool:
    """True while any of ``keys`` is cooling off after repeated failures."""
    since = (now or utcnow()) - WINDOW
    for key in keys:
        count = session.scalar(
            select(func.count(AccessFailure.id)).where(AccessFailure.key == key, AccessFailure.created_at >= since)
        )
        if (count or 0) >= LIMIT:
            return True
    return False


def record_failure(session: Session, keys: Sequence[str], now: dt.datetime | None = None) -> None:
    """Count one failed check against each of ``keys``."""
    for key in keys:
        session.add(AccessFailure(key=key, created_at=now or utcnow()))
