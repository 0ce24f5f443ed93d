"""The offer engine keeps house rules 6–8: one relevant in-stock offer, only when welcome, never twice."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from actions.services.offers import (
    Offer,
    OfferContext,
    OfferReason,
    discounted_cents,
    owned_products,
    pick_offer,
    record_offer,
    record_outcome,
)
from actions.settings import get_settings, settings_from_env
from actions.store import db
from actions.store.models import Customer, OfferLog, Order, OrderStatus, Product, Promotion

NOW = dt.datetime(2026, 11, 23, 18, 0)
DANA = "dana@example.com"
SAM = "sam@example.com"
DANA_NB14_OFFERS = {"SLV-14", "DCK-PRO", "MS-GLD", "CARE-2Y"}


@pytest.fixture
def session(store: str) -> Iterator[Session]:
    with db.session_scope(store) as session:
        yield session


def _pick(session: Session, conversation: str = "c1", **context) -> Offer | None:  # type: ignore[no-untyped-def]
    return pick_offer(session, OfferContext(conversation_id=conversation, **context), now=NOW)


def _decline_in_new_conversation(session: Session, offer: Offer, email: str, conversation: str, now=NOW) -> None:  # type: ignore[no-untyped-def]
    record_offer(session, conversation, offer, email, now=now)
    assert record_outcome(session, conversation, "declined", now=now)


# --- what is offered -------------------------------------------------------------------------


def test_dana_gets_an_add_on_for_her_laptop(session: Session) -> None:
    offer = _pick(session, customer_email=DANA)
    assert offer is not None
    assert offer.sku in DANA_NB14_OFFERS
    # Documented order: accessory before plan, cheapest first → the sleeve.
    assert (offer.sku, offer.name, offer.price, offer.price_cents) == ("SLV-14", "Nimbus 14 Sleeve", "$39.00", 3900)
    assert (offer.reason, offer.for_sku, offer.customer_owns_anchor) == (OfferReason.accessory, "NB-14", True)
    # She already has the laptop: "bought together with a laptop" does not apply.
    assert offer.promotion is None


def test_dana_is_never_offered_a_laptop_or_what_she_owns(session: Session) -> None:
    seen: list[str] = []
    for i in range(4):
        offer = _pick(session, f"dana-{i}", customer_email=DANA)
        assert offer is not None
        seen.append(offer.sku)
        _decline_in_new_conversation(session, offer, DANA, f"dana-{i}")
    # Each NB-14 add-on once (cool-off), in the documented order, then her headphones' ones.
    assert seen == ["SLV-14", "MS-GLD", "DCK-PRO", "CARE-2Y"]
    later = _pick(session, "dana-9", customer_email=DANA)
    assert later is not None and later.for_sku == "HP-ANC" and later.sku in {"HP-CASE", "CARE-AUD"}
    laptops = set(session.scalars(select(Product.sku).where(Product.category.has(slug="laptops"))))
    assert not ({*seen, later.sku} & (laptops | {"NB-14", "HP-ANC"}))


def test_protection_plan_offer_for_an_owned_laptop(session: Session) -> None:
    # With the accessories out of stock, the plan (stock NULL = always available) comes next.
    session.execute(update(Product).where(Product.sku.in_(["SLV-14", "MS-GLD", "DCK-PRO"])).values(stock=0))
    offer = _pick(session, customer_email=DANA)
    assert offer is not None
    assert (offer.sku, offer.reason, offer.stock, offer.price) == ("CARE-2Y", OfferReason.protection, None, "$129.00")


def test_promotion_when_asking_about_a_laptop(session: Session) -> None:
    offer = _pick(session, customer_email=SAM, product_sku="NB-14")
    assert offer is not None and offer.sku == "SLV-14" and offer.customer_owns_anchor is False
    promotion = offer.promotion
    assert promotion is not None
    assert (promotion.code, promotion.percent_off) == ("LAPTOP-ACCESSORY-15", 15)
    assert (promotion.discounted_price_cents, promotion.discounted_price) == (3315, "$33.15")
    assert offer.price == "$39.00"  # the honest list price is still given


def test_promotion_percent_comes_from_the_database(session: Session) -> None:
    session.execute(update(Promotion).values(percent_off=20))
    offer = _pick(session, product_sku="NB-14")
    assert offer is not None and offer.promotion is not None
    assert offer.promotion.discounted_price == "$31.20"


def test_no_promotion_when_it_does_not_apply(session: Session) -> None:
    # Not a laptop: headphones' case at list price.
    offer = _pick(session, product_sku="HP-LITE")
    assert offer is not None and offer.sku == "HP-CASE" and offer.promotion is None
    # A laptop's plan is not an accessory.
    session.execute(update(Product).where(Product.sku.in_(["SLV-14", "MS-GLD", "DCK-PRO"])).values(stock=0))
    offer = _pick(session, "c2", product_sku="NB-14")
    assert offer is not None and offer.sku == "CARE-2Y" and offer.promotion is None
    # An inactive or expired promotion is never mentioned.
    session.execute(update(Product).values(stock=50).where(Product.sku == "SLV-14"))
    session.execute(update(Promotion).values(ends_on=NOW.date() - dt.timedelta(days=1)))
    offer = _pick(session, "c3", product_sku="NB-14")
    assert offer is not None and offer.sku == "SLV-14" and offer.promotion is None
    session.execute(update(Promotion).values(ends_on=None, active=False))
    assert _pick(session, "c4", product_sku="NB-14").promotion is None  # type: ignore[union-attr]


def test_discount_rounding() -> None:
    assert discounted_cents(3900, 15) == 3315
    assert discounted_cents(2900, 15) == 2465
    assert discounted_cents(1, 50) == 1  # half a cent rounds up
    assert discounted_cents(14900, 0) == 14900


def test_upgrade_only_for_what_is_asked_about(session: Session) -> None:
    # MS-GLD has no accessories or plans; its upgrade is the Pro mouse.
    offer = _pick(session, product_sku="MS-GLD")
    assert offer is not None and (offer.sku, offer.reason) == ("MS-PRO", OfferReason.upgrade)
    # Someone who owns a Glide mouse is not told to replace it.
    customer = session.scalars(select(Customer).where(Customer.email == SAM)).one()
    order = session.scalars(select(Order).where(Order.number == "10061")).one()
    mouse = session.scalars(select(Product).where(Product.sku == "MS-GLD")).one()
    order.lines[0].product = mouse
    session.flush()
    assert [p.sku for p in owned_products(session, customer.id)] == ["MS-GLD"]
    assert _pick(session, "c2", customer_email=SAM) is None


def test_out_of_stock_items_are_never_offered(session: Session) -> None:
    session.execute(update(Product).where(Product.sku == "SLV-14").values(stock=0))
    offer = _pick(session, customer_email=DANA)
    assert offer is not None and offer.sku == "MS-GLD"
    session.execute(update(Product).where(Product.sku == "MS-GLD").values(active=False))
    assert _pick(session, "c2", customer_email=DANA).sku == "DCK-PRO"  # type: ignore[union-attr]


def test_nothing_goes_with_a_laptop_we_cannot_sell(session: Session) -> None:
    # NB-16 is out of stock: no dock "for the laptop you can't buy"; it has no upgrades either.
    assert _pick(session, product_sku="NB-16") is None


def test_protection_plans_only_through_the_protection_relation(session: Session) -> None:
    # Monitors get the monitor plan, never a laptop plan.
    session.execute(update(Product).where(Product.sku == "ARM-1").values(stock=0))
    offer = _pick(session, product_sku="MON-24")
    assert offer is not None and offer.sku == "CBL-HDMI"
    session.execute(update(Product).where(Product.sku == "CBL-HDMI").values(stock=0))
    offer = _pick(session, "c2", product_sku="MON-24")
    assert offer is not None and (offer.sku, offer.reason) == ("CARE-MON", OfferReason.protection)
    # A product with no protection relation never gets a plan.
    for i, sku in enumerate(["KB-SLIM", "MS-TRV", "HP-HEAD", "CARE-2Y"]):
        offer = _pick(session, f"k{i}", product_sku=sku)
        assert offer is None or offer.reason is not OfferReason.protection


def test_a_customer_with_a_plan_is_not_sold_another(session: Session) -> None:
    order = session.scalars(select(Order).where(Order.number == "10042")).one()
    plan = session.scalars(select(Product).where(Product.sku == "CARE-2Y")).one()
    order.lines.append(type(order.lines[0])(product=plan, quantity=1, unit_price_cents=plan.price_cents))
    session.execute(update(Product).where(Product.sku.in_(["SLV-14", "MS-GLD", "DCK-PRO"])).values(stock=0))
    session.flush()
    offer = _pick(session, customer_email=DANA)
    assert offer is None or offer.for_sku != "NB-14"


def test_cancelled_orders_do_not_count_as_owned(session: Session) -> None:
    session.execute(update(Order).where(Order.number == "10061").values(status=OrderStatus.cancelled))
    customer = session.scalars(select(Customer).where(Customer.email == SAM)).one()
    assert owned_products(session, customer.id) == []
    assert _pick(session, customer_email=SAM) is None  # nothing owned, nothing asked about


# --- when nothing is offered -----------------------------------------------------------------


def test_no_offer_while_a_complaint_is_open(session: Session) -> None:
    assert _pick(session, customer_email=DANA, complaint_open=True) is None


@pytest.mark.parametrize(
    ("label", "valence"),
    [("negative", None), ("mild", None), ("strong", 0.3), ("extreme", None), (None, -0.4), ("neutral", -0.05)],
)
def test_no_offer_when_the_customer_is_upset(session: Session, label: str | None, valence: float | None) -> None:
    assert _pick(session, customer_email=DANA, feeling_label=label, feeling_valence=valence) is None


def test_offer_when_the_customer_is_fine(session: Session) -> None:
    assert _pick(session, customer_email=DANA, feeling_label="neutral", feeling_valence=0.6) is not None
    assert _pick(session, "c2", customer_email=DANA, feeling_label="positive") is not None


def test_offered_once_per_conversation(session: Session) -> None:
    offer = _pick(session, customer_email=DANA)
    assert offer is not None
    record_offer(session, "c1", offer, DANA, now=NOW)
    # Whatever the answer, this conversation gets no second offer.
    assert _pick(session, customer_email=DANA) is None
    assert record_outcome(session, "c1", "accepted", now=NOW)
    assert _pick(session, customer_email=DANA) is None
    # The caller's own memory of a declined offer or an offer made also stops it.
    assert _pick(session, "c2", customer_email=DANA, declined_skus=frozenset({"SLV-14"})) is None
    assert _pick(session, "c3", customer_email=DANA, offer_made=True) is None
    # Anonymous visitors too.
    anonymous = _pick(session, "anon", product_sku="HP-ANC")
    assert anonymous is not None
    record_offer(session, "anon", anonymous, None, now=NOW)
    assert _pick(session, "anon", product_sku="HP-ANC") is None


def test_cooloff_across_conversations(session: Session) -> None:
    offer = _pick(session, "first", customer_email=DANA)
    assert offer is not None and offer.sku == "SLV-14"
    _decline_in_new_conversation(session, offer, DANA, "first")
    # A new conversation the next day: something else.
    next_day = pick_offer(session, OfferContext("second", customer_email=DANA), now=NOW + dt.timedelta(days=1))
    assert next_day is not None and next_day.sku != "SLV-14"
    # After the cool-off the sleeve may come back.
    later = pick_offer(
        session, OfferContext("third", customer_email=DANA), now=NOW + dt.timedelta(days=31), cooloff_days=30
    )
    assert later is not None and later.sku == "SLV-14"
    # A shorter configured cool-off is honoured.
    sooner = pick_offer(
        session, OfferContext("fourth", customer_email=DANA), now=NOW + dt.timedelta(days=2), cooloff_days=1
    )
    assert sooner is not None and sooner.sku == "SLV-14"


def test_cooloff_comes_from_settings(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    offer = _pick(session, "first", customer_email=DANA)
    _decline_in_new_conversation(session, offer, DANA, "first")  # type: ignore[arg-type]
    monkeypatch.setenv("GOLDEN_RULE_OFFER_COOLOFF_DAYS", "3")
    get_settings.cache_clear()
    try:
        assert get_settings().offer_cooloff_days == 3
        again = pick_offer(session, OfferContext("second", customer_email=DANA), now=NOW + dt.timedelta(days=4))
        assert again is not None and again.sku == "SLV-14"
    finally:
        get_settings.cache_clear()


def test_cooloff_setting_default_and_bad_values() -> None:
    assert settings_from_env({}).offer_cooloff_days == 30
    assert settings_from_env({"GOLDEN_RULE_OFFER_COOLOFF_DAYS": "7"}).offer_cooloff_days == 7
    assert settings_from_env({"GOLDEN_RULE_OFFER_COOLOFF_DAYS": "0"}).offer_cooloff_days == 0
    for bad in ("-1", "soon", "", "2.5"):
        assert settings_from_env({"GOLDEN_RULE_OFFER_COOLOFF_DAYS": bad}).offer_cooloff_days == 30


def test_unknown_customer_or_product_is_harmless(session: Session) -> None:
    assert _pick(session, customer_email="nobody@example.com") is None
    assert _pick(session, product_sku="NOPE-1") is None
    assert _pick(session, customer_email="nobody@example.com", product_sku="HP-ANC").sku == "HP-CASE"  # type: ignore[union-attr]


# --- the log ---------------------------------------------------------------------------------


def test_record_offer_and_outcome(session: Session) -> None:
    offer = _pick(session, customer_email=SAM, product_sku="NB-14")
    assert offer is not None
    log_id = record_offer(session, "c1", offer, SAM, now=NOW)
    row = session.get(OfferLog, log_id)
    assert row is not None
    sam = session.scalars(select(Customer).where(Customer.email == SAM)).one()
    promotion = session.scalars(select(Promotion)).one()
    slv = session.scalars(select(Product).where(Product.sku == "SLV-14")).one()
    assert (row.customer_id, row.product_id, row.promotion_id, row.outcome, row.decided_at) == (
        sam.id, slv.id, promotion.id, "offered", None,
    )  # fmt: skip
    assert record_outcome(session, "c1", "Declined", now=NOW + dt.timedelta(minutes=1))
    session.refresh(row)
    assert (row.outcome, row.decided_at) == ("declined", NOW + dt.timedelta(minutes=1))
    # Nothing pending any more; a conversation without an offer has nothing to record.
    assert record_outcome(session, "c1", "accepted") is False
    assert record_outcome(session, "never", "ignored") is False
    with pytest.raises(ValueError):
        record_outcome(session, "c1", "maybe")


def test_offer_is_a_plain_value(session: Session) -> None:
    offer = _pick(session, product_sku="NB-14")
    assert offer is not None
    as_dict = dataclasses.asdict(offer)
    assert as_dict["sku"] == "SLV-14" and as_dict["promotion"]["discounted_price"] == "$33.15"
