"""Who the customer is proven to be: the one identity rule of the action server (house rule 11).

Every action that uses what the store knows about a customer (name, orders, stored contact
preference, purchase history) asks :func:`proven_email` or :func:`proven_order`; nothing else
reads the proof slots. Rules kept here:

- **Only a successful proof makes a customer proven**: an order number together with the email
  the order was placed with (the order verification form), or a ticket reference together with
  the ticket's email *when that email was itself proven when the ticket was opened*
  (``Ticket.email_proven``). An email the customer merely typed (a claimed address, the address
  a ticket was opened with without proof) proves nothing.
- **Proof is three slots**: ``customer_email`` (the proven address), ``verified_order`` (the order
  proven, if any) and ``proven_at`` (epoch seconds when it was proven). A proof without a time
  is no proof (a hand-made or pre-upgrade tracker).
- **Proof expires** after :data:`IDLE_LIMIT` without customer activity: between the proof, each
  later customer message and now, no gap may be longer than the limit. Once a gap is found the
  proof stays expired (later messages do not revive it); the customer is asked again. A new
  session drops the proof altogether (``actions/session.py``).
- **Inputs typed before an idle gap are stale**: an order number, email, ticket reference or
  contact detail still sitting in a slot from before a gap of more than :data:`IDLE_LIMIT` is not
  used for a check or a contact (:func:`fresh`), so a conversation left idle cannot be resumed by
  someone else to re-prove with what the customer typed earlier.
- **Without proof** nothing stored about a customer is used or said, and nothing stored about an
  existing customer changes; what the customer typed applies to the current ticket or request only.

Timestamps: tracker events carry ``timestamp`` (epoch seconds, set by the rasa server); ``now`` is
the action server's clock. Both default to ``time.time()`` here.
"""

from __future__ import annotations

import itertools
import time
import unicodedata
from collections.abc import Iterable
from typing import Any

from rasa_sdk import Tracker

IDLE_LIMIT_SECONDS = 30 * 60
PROOF_SLOTS = ("customer_email", "verified_order", "proven_at")
# What a customer types to prove who they are or to be reached: never carried into a new session,
# never reused after an idle gap.
IDENTITY_INPUT_SLOTS = ("order_id", "email", "ticket_ref", "contact_detail")
# Security counters: always carried into a new session (guessing must not restart from zero).
SECURITY_SLOTS = ("verification_failures", "verification_locked_at")


def _now(now: float | None) -> float:
    return time.time() if now is None else float(now)


def _user_events(tracker: Tracker) -> list[dict[str, Any]]:
    return [event for event in tracker.events or [] if event.get("event") == "user"]


def _timestamp(event: dict[str, Any]) -> float | None:
    stamp = event.get("timestamp")
    return float(stamp) if isinstance(stamp, int | float) and not isinstance(stamp, bool) else None


def _no_gap(times: Iterable[float]) -> bool:
    ordered = sorted(times)
    return all(later - earlier <= IDLE_LIMIT_SECONDS for earlier, later in itertools.pairwise(ordered))


def proof_live(tracker: Tracker, now: float | None = None) -> bool:
    """True while the conversation holds a proof that has not expired (see the module rules)."""
    proven_at = tracker.get_slot("proven_at")
    if not isinstance(proven_at, int | float) or isinstance(proven_at, bool) or not tracker.get_slot("customer_email"):
        return False
    moment = _now(now)
    since = [stamp for stamp in map(_timestamp, _user_events(tracker)) if stamp is not None and stamp > proven_at]
    return _no_gap([float(proven_at), *since, moment])


def proven_email(tracker: Tracker, now: float | None = None) -> str | None:
    """The customer's proven email address, or ``None`` without a live proof."""
    return str(tracker.get_slot("customer_email")) if proof_live(tracker, now) else None


def proven_order(tracker: Tracker, now: float | None = None) -> str | None:
    """The order number proven in this conversation, or ``None`` without a live proof of one."""
    order = tracker.get_slot("verified_order")
    return str(order) if order and proof_live(tracker, now) else None


def proof_slots(email: str, order: str | None = None, now: float | None = None) -> dict[str, Any]:
    """The slot values recording a successful proof of ``email`` (and of ``order``, if one)."""
    return {"customer_email": email, "verified_order": order, "proven_at": _now(now)}


def no_proof_slots() -> dict[str, Any]:
    """The slot values of a conversation without proof."""
    return dict.fromkeys(PROOF_SLOTS)


def activity_start(tracker: Tracker, now: float | None = None) -> float | None:
    """When the customer's current spell of activity began: the first message after the latest idle
    gap longer than :data:`IDLE_LIMIT_SECONDS`; ``None`` when this session has had no such gap."""
    later = _now(now)
    for stamp in sorted((s for s in map(_timestamp, _user_events(tracker)) if s is not None), reverse=True):
        if later - stamp > IDLE_LIMIT_SECONDS:
            return later
        later = stamp
    return None


def _folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def typed_recently(tracker: Tracker, value: Any, now: float | None = None) -> bool:
    """Whether ``value`` was typed by the customer since the latest idle gap (always true when the
    session had no gap). Compared without case and width, in the text and the entities."""
    start = activity_start(tracker, now)
    if start is None:
        return True
    wanted = _folded(str(value or "")).strip()
    if not wanted:
        return False
    for event in _user_events(tracker):
        stamp = _timestamp(event)
        if stamp is None or stamp < start:
            continue
        entities = ((event.get("parse_data") or {}).get("entities")) or []
        said = [str(event.get("text") or "")] + [str(entity.get("value") or "") for entity in entities]
        if any(wanted in _folded(part) for part in said):
            return True
    return False


def fresh(tracker: Tracker, slot: str, now: float | None = None) -> Any:
    """The value of ``slot`` if the customer typed it since the latest idle gap, else ``None``."""
    value = tracker.get_slot(slot)
    return value if value is not None and typed_recently(tracker, value, now) else None
