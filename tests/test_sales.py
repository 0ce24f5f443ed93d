"""Sales actions answer from the catalog, and honestly when the catalog cannot answer."""

from __future__ import annotations

import time

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select, update

from actions.sales import (
    ActionBackInStock,
    ActionBuyProduct,
    ActionCheckPrice,
    ActionCheckStock,
    ActionCompareProducts,
    ActionOfferOutcome,
    ActionProductSearch,
    ActionRequestDiscount,
    make_offer,
)
from actions.services import shopping
from actions.services.catalog import format_money, normalize_query, resolve_product
from actions.settings import get_settings
from actions.store import db
from actions.store.models import BackInStockRequest, OfferLog, Product
from actions.support import ActionOrderHelp
from tests.conftest import make_tracker


async def _run(slots: dict) -> tuple[list, list[dict]]:
    dispatcher = CollectingDispatcher()
    events = await ActionCheckPrice().run(dispatcher, make_tracker(slots=slots, intent="check_price"), {})
    return events, dispatcher.messages


@pytest.mark.asyncio
async def test_price_comes_from_the_store(store: str) -> None:
    events, messages = await _run({"product": "Nimbus 14 laptop"})
    assert events == [SlotSet("product", "Nimbus 14 Laptop")]
    assert len(messages) == 1
    assert messages[0]["response"] == "utter_price"
    assert messages[0]["price"] == "$1,199.00"
    assert messages[0]["stock"] == "we have 12 in stock"


@pytest.mark.asyncio
async def test_price_follows_a_store_change(store: str) -> None:
    with db.session_scope(store) as session:
        session.execute(update(Product).where(Product.sku == "NB-14").values(price_cents=109900, stock=3))
    _, messages = await _run({"product": "NB-14"})
    assert (messages[0]["price"], messages[0]["stock"]) == ("$1,099.00", "we have 3 in stock")


@pytest.mark.asyncio
async def test_out_of_stock_gives_restock_date(store: str) -> None:
    _, messages = await _run({"product": "Nimbus 16 Pro"})
    assert messages[0]["price"] == "$1,899.00"
    assert "out of stock" in messages[0]["stock"] and "next delivery is expected" in messages[0]["stock"]


@pytest.mark.asyncio
async def test_short_name_means_the_main_product(store: str) -> None:
    _, messages = await _run({"product": "Nimbus 14"})
    assert messages[0]["product_name"] == "Nimbus 14 Laptop"


@pytest.mark.asyncio
async def test_ambiguous_name_asks_which_one(store: str) -> None:
    events, messages = await _run({"product": "Vista 27"})
    assert events == [SlotSet("product", None)]
    assert messages[0]["response"] == "utter_which_product"
    assert [b["title"] for b in messages[0]["buttons"]] == ["Vista 27 4K Monitor", "Vista 27 Pro 5K Monitor"]


@pytest.mark.asyncio
async def test_unknown_product_is_said_plainly(store: str) -> None:
    events, messages = await _run({"product": "Hoverboard 3000'; DROP TABLE products;--"})
    assert events == [SlotSet("product", None)]
    assert messages[0]["response"] in {"utter_product_unknown", "utter_product_not_carried"}


@pytest.mark.asyncio
async def test_no_product_named_asks_for_one(store: str) -> None:
    events, messages = await _run({})
    assert events == []
    assert [m["response"] for m in messages] == ["utter_ask_which_product"]


@pytest.mark.asyncio
async def test_unreachable_store_gets_an_honest_answer(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A directory where the database file should be: SQLite cannot open it.
    monkeypatch.setenv("GOLDEN_RULE_DB_URL", f"sqlite:///{tmp_path}")
    get_settings.cache_clear()
    try:
        events, messages = await _run({"product": "Nimbus 14"})
    finally:
        db.dispose_engines()
        get_settings.cache_clear()
    assert events == []
    assert [m["response"] for m in messages] == ["utter_store_unavailable"]
    assert messages[0]["support_email"] == "support@brightdesk.example"


def test_normalize_query() -> None:
    assert normalize_query("  The   Nimbus 14?  ") == "nimbus 14"
    assert normalize_query("x" * 500) == "x" * 120


def test_like_wildcards_are_literal(store: str) -> None:
    with db.session_scope(store) as session:
        assert resolve_product(session, "%").product is None
        assert resolve_product(session, "_").candidates == []


def test_format_money() -> None:
    assert format_money(119900) == "$1,199.00"
    assert format_money(5) == "$0.05"
    assert format_money(1000, "EUR") == "10.00 EUR"


# --- Sales conversations (catalog-grounded answers, one offer, never pushy) -----------------------



def product_tracker(intent: str, text: str, products: list[str] | None = None, **slots) -> object:
    entities = [{"entity": "product", "value": p} for p in (products or [])]
    return make_tracker(slots=slots, intent=intent, text=text, entities=entities)


async def run_action(action, tracker) -> tuple[list, list[dict]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, {})
    return events, dispatcher.messages


@pytest.mark.asyncio
async def test_search_lists_real_laptops_within_budget(store: str) -> None:
    _, messages = await run_action(ActionProductSearch(), product_tracker(
        "product_search", "I need a laptop for video editing under 2000"))
    [message] = messages
    assert message["response"] == "utter_search_results_budget"
    assert message["budget"] == "under 2000"
    assert "Stratus 15 Creator Laptop: $1,649.00 (5 in stock)" in message["results"]
    assert "Stand" not in message["results"]


@pytest.mark.parametrize("phrase", ["cheap headphones", "headphones for $-5"])
@pytest.mark.asyncio
async def test_unusable_budget_gets_a_specific_question(store: str, phrase: str) -> None:
    _, messages = await run_action(ActionProductSearch(), product_tracker("product_search", phrase))
    assert messages[0]["response"] in {"utter_budget_ambiguous", "utter_budget_invalid"}


@pytest.mark.asyncio
async def test_markup_and_sql_in_search_are_just_text(store: str) -> None:
    for text in ["<script>alert(1)</script> laptop", "laptop' OR 1=1; DROP TABLE products;--", 'mouse "NEAR" *']:
        _, messages = await run_action(ActionProductSearch(), product_tracker("product_search", text))
        assert messages and messages[0]["response"].startswith(("utter_search", "utter_budget"))


@pytest.mark.asyncio
async def test_out_of_stock_gives_restock_date_and_alternative(store: str) -> None:
    events, messages = await run_action(ActionCheckStock(), product_tracker("check_stock", "", ["Nimbus 16 Pro"]))
    assert messages[0]["response"] == "utter_out_of_stock_alternative"
    assert messages[0]["alternative"] == "Nimbus 14 Laptop"
    assert "next delivery is expected" in messages[0]["stock"]
    assert messages[1]["response"] == "utter_offer_notify"
    assert SlotSet("restock_pending", True) in events


@pytest.mark.parametrize(("text", "back"), [
    ("is it in stock?", True), ("how much is that one?", True), ("in stock?", True), ("/check_stock", True),
    ("do you have any monitors?", False), ("any webcams left in the shop?", False), ("", True),
])
def test_a_message_refers_back_only_with_a_pronoun_or_as_a_short_follow_up(text: str, back: bool) -> None:
    assert shopping.refers_back(text) is back


@pytest.mark.asyncio
async def test_a_new_question_is_answered_from_the_catalog_not_with_the_previous_product(store: str) -> None:
    # Discussing the dock, then asking about monitors: the monitors, not the dock's stock.
    _, messages = await run_action(ActionCheckStock(), product_tracker(
        "check_stock", "do you have any monitors in stock?", product="Dock Pro USB-C"))
    [message] = messages
    assert message["response"] == "utter_search_results"
    assert "Vista 27 4K Monitor" in message["results"] and "Dock Pro" not in message["results"]
    # Something we don't carry gets what the catalog has closest, never the dock.
    _, [nothing] = await run_action(ActionCheckStock(), product_tracker(
        "check_stock", "got any webcams for video calls?", product="Dock Pro USB-C"))
    assert nothing["response"].startswith("utter_search_") and "Dock Pro" not in str(nothing)
    # Pointing back at the dock still means the dock.
    _, [dock] = await run_action(ActionCheckStock(), product_tracker("check_stock", "is it in stock?",
                                                                     product="Dock Pro USB-C"))
    assert dock["response"] == "utter_stock" and dock["product_name"] == "Dock Pro USB-C"


@pytest.mark.asyncio
async def test_back_in_stock_request_is_stored_with_the_chosen_contact(store: str) -> None:
    tracker = make_tracker(slots={"product": "Nimbus 16 Pro Laptop", "contact_channel": "email",
                                  "contact_detail": "sam@example.com"})
    _, messages = await run_action(ActionBackInStock(), tracker)
    assert messages[0]["response"] == "utter_notify_saved"
    with db.session_scope(store) as session:
        request = session.scalars(select(BackInStockRequest)).one()
        assert (request.product.sku, request.contact_detail) == ("NB-16", "sam@example.com")


@pytest.mark.asyncio
async def test_unknown_product_gets_closest_real_items(store: str) -> None:
    _, messages = await run_action(ActionCheckStock(), product_tracker("check_stock", "", ["Nimbus 15 Ultra"]))
    assert messages[0]["response"] == "utter_product_not_carried"
    assert "Nimbus" in messages[0]["closest"]


@pytest.mark.asyncio
async def test_compare_side_by_side(store: str) -> None:
    _, messages = await run_action(ActionCompareProducts(), product_tracker(
        "compare_products", "", ["Vista 27 4K Monitor", "Vista 24 Monitor"]))
    assert messages[0]["response"] == "utter_compare"
    assert "$429.00" in messages[0]["comparison"] and "$219.00" in messages[0]["comparison"]


@pytest.mark.asyncio
async def test_buying_a_laptop_links_it_and_offers_the_real_promotion_once(store: str) -> None:
    events, messages = await run_action(ActionBuyProduct(), product_tracker("buy_product", "", ["Nimbus 14 Laptop"]))
    assert messages[0]["response"] == "utter_buy_link"
    assert messages[0]["url"] == "https://brightdesk.example/products/NB-14"
    assert messages[1]["response"] == "utter_offer_promotion"
    assert messages[1]["promo_title"] == "15% off one accessory with a laptop"
    assert SlotSet("offer_made", True) in events


@pytest.mark.asyncio
async def test_dana_gets_one_offer_for_what_she_owns_and_a_no_is_final(store: str) -> None:
    order_events = [
        {"event": "user", "text": "where is order 10042?", "parse_data": {"intent": {"name": "order_status"}}},
    ]
    tracker = make_tracker(slots={"verified_order": "10042", "customer_email": "dana@example.com",
                                  "proven_at": time.time(),
                                  "feeling": "neutral"}, events=order_events)
    events, messages = await run_action(ActionOrderHelp(), tracker)
    assert messages[0]["response"] == "utter_order_status_late"
    offer = messages[1]
    assert offer["response"] == "utter_offer_for_owned"
    assert offer["for_name"] == "Nimbus 14 Laptop"
    assert offer["offer_name"] in {"Nimbus 14 Sleeve", "Dock Pro USB-C", "Glide Wireless Mouse",
                                   "CarePlus 2-Year Protection"}
    _, outcome = await run_action(ActionOfferOutcome(), make_tracker(intent="deny"))
    assert outcome[0]["response"] == "utter_offer_declined"
    with db.session_scope(store) as session:
        assert session.scalars(select(OfferLog.outcome)).all() == ["declined"]
        # Nothing more in this conversation, even if asked again.
        again = make_tracker(slots={"customer_email": "dana@example.com", "proven_at": time.time(),
                                    "feeling": "neutral"})
        dispatcher = CollectingDispatcher()
        assert make_offer(dispatcher, again, session, get_settings()) == []


@pytest.mark.asyncio
async def test_no_offer_while_upset(store: str) -> None:
    tracker = make_tracker(slots={"verified_order": "10042", "customer_email": "dana@example.com",
                                  "proven_at": time.time(),
                                  "feeling": "strong"},
                           events=[{"event": "user", "text": "where is it", "parse_data": {
                               "intent": {"name": "order_status"}}}])
    _, messages = await run_action(ActionOrderHelp(), tracker)
    assert [m["response"] for m in messages] == ["utter_order_status_late"]


@pytest.mark.parametrize("text", ["give me 20% off or I'm leaving", "can I get a discount?"])
@pytest.mark.asyncio
async def test_discounts_are_only_real_promotions(store: str, text: str) -> None:
    events, messages = await run_action(ActionRequestDiscount(), product_tracker("request_discount", text))
    message = messages[0]
    assert message["response"] in {"utter_discount_firm", "utter_discount_real"}
    assert "15% off one accessory with a laptop" in message["promotions"]
    assert "20%" not in message["promotions"]
    assert SlotSet("handoff_reason", "pricing") in events
