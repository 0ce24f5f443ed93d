"""Sales actions answer from the catalog, and honestly when the catalog cannot answer."""

from __future__ import annotations

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import update

from actions.sales import ActionCheckPrice
from actions.services.catalog import format_money, normalize_query, resolve_product
from actions.settings import get_settings
from actions.store import db
from actions.store.models import Product
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
async def test_ambiguous_name_asks_which_one(store: str) -> None:
    events, messages = await _run({"product": "Vista 27"})
    assert events == [SlotSet("product", None)]
    assert messages[0]["response"] == "utter_which_product"
    assert [b["title"] for b in messages[0]["buttons"]] == ["Vista 27 4K Monitor", "Vista 27 Pro 5K Monitor"]


@pytest.mark.asyncio
async def test_unknown_product_is_said_plainly(store: str) -> None:
    events, messages = await _run({"product": "Hoverboard 3000'; DROP TABLE products;--"})
    assert events == [SlotSet("product", None)]
    assert messages[0]["response"] == "utter_product_unknown"


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
