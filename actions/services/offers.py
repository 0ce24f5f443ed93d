"""The offer engine: at most one relevant, in-stock suggestion, and only when it is welcome.

House rules kept by :func:`pick_offer` (shared/DESIGN.md §1, rules 6–8):

- **No offer at all** while a complaint is open, while the customer's feeling is negative or
  frustrated, or once this conversation has had an offer (offered once: a logged offer of any
  outcome in ``offer_log``, or one the caller says was made or declined);
- **never what the customer already owns** (a verified customer's orders, cancelled ones aside),
  never the product being discussed itself, never an inactive or out-of-stock item (stock ``NULL``
  is a plan and always available);
- **not the same item again to the same customer** within ``offer_cooloff_days`` (setting
  ``GOLDEN_RULE_OFFER_COOLOFF_DAYS``, default 30), whatever the earlier outcome;
- **protection plans** only through a product's ``protection`` relation (so a laptop plan is only
  offered for a laptop), and not when the customer already owns a plan for that product;
- **upgrades** only for the product the customer is asking about, never for what they already own
  (suggesting they replace what they just bought is not service);
- **the promotion** (a row of ``promotions``, never invented) only when it applies: the customer is
  asking about or buying a product of the promotion's category that they do not own yet, the
  offer has the promotion's relation to it (an accessory of that laptop), and the promotion is
  active today. The discounted price is computed from the stored percentage.

Deterministic choice order:

1. Anchors: the product being discussed first (if the customer does not own it, it is what they
   are about to buy); then what the customer owns, most recent order first.
2. Per anchor, by kind: accessory, then protection plan, then upgrade (discussed product only).
   An accessory is the smallest, most useful add-on and the one the promotion can apply to; a
   plan comes next; an upgrade is the biggest ask.
3. Within a kind: cheapest first, then SKU.

So for Dana (owns NB-14 and HP-ANC) with nothing discussed: SLV-14, then MS-GLD, DCK-PRO, CARE-2Y
(all NB-14's) as each is used up by the cool-off, and only then her headphones' case and plan.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from actions.services.catalog import format_money
from actions.settings import get_settings
from actions.store.models import (
    Category,
    Customer,
    OfferLog,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    ProductRelation,
    Promotion,
    RelationKind,
    utcnow,
)

PROTECTION_CATEGORY = "protection-plans"
# Feelings under which no offer is made. Labels come from the feeling component
# (neutral|mild|strong|extreme) or a plain sentiment label; valence is -1..1 (VADER-style,
# where -0.05 and below reads as negative).
UPSET_LABELS = frozenset({"negative", "mild", "strong", "extreme", "angry", "frustrated", "upset"})
NEGATIVE_VALENCE = -0.05
OUTCOMES = frozenset({"accepted", "declined", "ignored"})


class OfferReason(str, enum.Enum):
    accessory = "accessory"
    protection = "protection"
    upgrade = "upgrade"


@dataclass(frozen=True)
class OfferContext:
    """What the engine needs to know about the conversation; all of it comes from slots/tracker."""

    conversation_id: str
    customer_email: str | None = None  # only a *verified* email; None for an anonymous visitor
    product_sku: str | None = None  # the product being discussed or bought, if any
    declined_skus: frozenset[str] = field(default_factory=frozenset)  # offers declined in this conversation
    offer_made: bool = False  # the conversation already had an offer (slot), whatever happened to it
    complaint_open: bool = False
    feeling_label: str | None = None  # e.g. "neutral", "mild", "negative"
    feeling_valence: float | None = None  # -1..1; negative means no offer


@dataclass(frozen=True)
class PromotionApplied:
    code: str
    title: str
    percent_off: int
    discounted_price_cents: int
    discounted_price: str


@dataclass(frozen=True)
class Offer:
    """One suggestion, with its honest price and why it is relevant."""

    sku: str
    name: str
    price_cents: int
    price: str
    stock: int | None
    reason: OfferReason
    for_sku: str  # the product it goes with
    for_name: str
    customer_owns_anchor: bool  # True: "for your Nimbus 14"; False: "with the Nimbus 14 you're looking at"
    promotion: PromotionApplied | None = None


def _is_upset(context: OfferContext) -> bool:
    if context.feeling_label and context.feeling_label.strip().lower() in UPSET_LABELS:
        return True
    return context.feeling_valence is not None and context.feeling_valence <= NEGATIVE_VALENCE


def _customer(session: Session, email: str | None) -> Customer | None:
    if not email:
        return None
    return session.scalars(select(Customer).where(Customer.email == email.strip().lower())).first()


def owned_products(session: Session, customer_id: int) -> list[Product]:
    """What the customer has ordered (cancelled orders aside), most recent order first, no repeats."""
    rows = session.execute(
        select(Product, Order.placed_at)
        .join(OrderLine, OrderLine.product_id == Product.id)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.customer_id == customer_id, Order.status != OrderStatus.cancelled)
        .order_by(Order.placed_at.desc(), OrderLine.id)
    ).all()
    seen: dict[int, Product] = {}
    for product, _placed in rows:
        seen.setdefault(product.id, product)
    return list(seen.values())


def _related(session: Session, anchor: Product, kind: RelationKind) -> list[Product]:
    return list(
        session.scalars(
            select(Product)
            .join(ProductRelation, ProductRelation.related_id == Product.id)
            .where(ProductRelation.product_id == anchor.id, ProductRelation.kind == kind)
            .order_by(Product.price_cents, Product.sku)
        )
    )


def _cooling_off(session: Session, customer_id: int | None, since: dt.datetime) -> set[int]:
    if customer_id is None:
        return set()
    return set(
        session.scalars(
            select(OfferLog.product_id).where(
                OfferLog.customer_id == customer_id,
                OfferLog.offered_at >= since,
                OfferLog.product_id.is_not(None),
            )
        )
    )


def _active_promotion(session: Session, today: dt.date) -> Iterable[Promotion]:
    return session.scalars(
        select(Promotion)
        .where(Promotion.active.is_(True))
        .where((Promotion.starts_on.is_(None)) | (Promotion.starts_on <= today))
        .where((Promotion.ends_on.is_(None)) | (Promotion.ends_on >= today))
        .order_by(Promotion.id)
    )


def discounted_cents(price_cents: int, percent_off: int) -> int:
    """The price after ``percent_off`` percent, rounded half up to the cent (integer maths only)."""
    return (price_cents * (100 - percent_off) + 50) // 100


def _promotion_for(
    session: Session, anchor: Product, reason: OfferReason, owns_anchor: bool, today: dt.date
) -> Promotion | None:
    # "Bought together with a laptop": only for the product being bought, not one owned already.
    if owns_anchor:
        return None
    anchor_category = session.scalar(select(Category.slug).where(Category.id == anchor.category_id))
    for promotion in _active_promotion(session, today):
        if promotion.requires_category and promotion.requires_category != anchor_category:
            continue
        if promotion.applies_to_relation and promotion.applies_to_relation != reason.value:
            continue
        if not 0 < promotion.percent_off < 100:
            continue
        return promotion
    return None


def _conversation_had_offer(session: Session, conversation_id: str) -> bool:
    return bool(session.scalar(select(exists().where(OfferLog.conversation_id == conversation_id))))


def pick_offer(
    session: Session,
    context: OfferContext,
    *,
    now: dt.datetime | None = None,
    cooloff_days: int | None = None,
    currency: str | None = None,
) -> Offer | None:
    """The one offer to make now, or None; see the module docstring for every rule and the order.

    ``now`` is naive UTC (default: the current time); ``cooloff_days`` and ``currency`` default to
    the settings. Reads only: call :func:`record_offer` once the offer is actually made.
    """
    if context.complaint_open or _is_upset(context):
        return None
    if context.offer_made or context.declined_skus:
        return None
    if _conversation_had_offer(session, context.conversation_id):
        return None

    settings = get_settings()
    now = now or utcnow()
    cooloff = settings.offer_cooloff_days if cooloff_days is None else cooloff_days
    currency = currency or settings.currency

    customer = _customer(session, context.customer_email)
    owned = owned_products(session, customer.id) if customer else []
    owned_ids = {p.id for p in owned}
    since = now - dt.timedelta(days=cooloff)
    excluded = owned_ids | _cooling_off(session, customer.id if customer else None, since)
    declined = {s.upper() for s in context.declined_skus}

    anchors: list[tuple[Product, bool]] = []
    if context.product_sku:
        discussed = session.scalars(
            select(Product).where(Product.sku == context.product_sku.strip().upper(), Product.active.is_(True))
        ).first()
        if discussed is not None:
            anchors.append((discussed, discussed.id in owned_ids))
            excluded.add(discussed.id)
    anchors.extend((p, True) for p in owned if all(p.id != a.id for a, _ in anchors))

    protection_category_id = session.scalar(select(Category.id).where(Category.slug == PROTECTION_CATEGORY))
    today = now.date()
    for anchor, owns_anchor in anchors:
        if anchor.category_id == protection_category_id:
            continue  # a plan has no accessories or plans of its own worth offering
        # Accessories and plans go with something the customer has or can buy now.
        can_buy_anchor = owns_anchor or anchor.in_stock
        kinds: list[OfferReason] = []
        if can_buy_anchor:
            kinds += [OfferReason.accessory, OfferReason.protection]
        if not owns_anchor:
            kinds.append(OfferReason.upgrade)
        for reason in kinds:
            candidates = _related(session, anchor, RelationKind(reason.value))
            if reason is OfferReason.protection and any(c.id in owned_ids for c in candidates):
                continue  # already covered by a plan for this product
            for candidate in candidates:
                if candidate.id in excluded or candidate.sku in declined:
                    continue
                if not candidate.active or not candidate.in_stock:
                    continue
                is_plan = candidate.category_id == protection_category_id
                if is_plan != (reason is OfferReason.protection):
                    continue  # plans only through the protection relation, and it holds only plans
                promotion = _promotion_for(session, anchor, reason, owns_anchor, today)
                return _offer(candidate, anchor, reason, owns_anchor, promotion, currency)
    return None


def _offer(
    product: Product,
    anchor: Product,
    reason: OfferReason,
    owns_anchor: bool,
    promotion: Promotion | None,
    currency: str,
) -> Offer:
    applied = None
    if promotion is not None:
        cents = discounted_cents(product.price_cents, promotion.percent_off)
        applied = PromotionApplied(
            code=promotion.code,
            title=promotion.title,
            percent_off=promotion.percent_off,
            discounted_price_cents=cents,
            discounted_price=format_money(cents, currency),
        )
    return Offer(
        sku=product.sku,
        name=product.name,
        price_cents=product.price_cents,
        price=format_money(product.price_cents, currency),
        stock=product.stock,
        reason=reason,
        for_sku=anchor.sku,
        for_name=anchor.name,
        customer_owns_anchor=owns_anchor,
        promotion=applied,
    )


def record_offer(
    session: Session,
    conversation_id: str,
    offer: Offer,
    customer_email: str | None = None,
    *,
    now: dt.datetime | None = None,
) -> int:
    """Log that ``offer`` was made in this conversation (outcome "offered"); returns the log id.

    The log is what makes "offered once" and the cool-off hold across replicas and restarts.
    """
    customer = _customer(session, customer_email)
    product_id = session.scalar(select(Product.id).where(Product.sku == offer.sku))
    promotion_id = (
        session.scalar(select(Promotion.id).where(Promotion.code == offer.promotion.code)) if offer.promotion else None
    )
    entry = OfferLog(
        conversation_id=conversation_id,
        customer_id=customer.id if customer else None,
        product_id=product_id,
        promotion_id=promotion_id,
        outcome="offered",
        offered_at=now or utcnow(),
    )
    session.add(entry)
    session.flush()
    return entry.id


def record_outcome(
    session: Session, conversation_id: str, outcome: str, *, now: dt.datetime | None = None
) -> bool:
    """Set the outcome (accepted, declined or ignored) of this conversation's pending offer.

    Returns False when the conversation has no offer still waiting for an answer. Raises
    ValueError for any other outcome (a programming error, not customer input).
    """
    outcome = outcome.strip().lower()
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}, not {outcome!r}")
    pending = session.scalar(
        select(OfferLog.id)
        .where(OfferLog.conversation_id == conversation_id, OfferLog.outcome == "offered")
        .order_by(OfferLog.offered_at.desc(), OfferLog.id.desc())
        .limit(1)
    )
    if pending is None:
        return False
    session.execute(
        update(OfferLog).where(OfferLog.id == pending).values(outcome=outcome, decided_at=now or utcnow())
    )
    return True
