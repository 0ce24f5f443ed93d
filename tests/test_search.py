"""Product search: FTS5-backed relevance, filters that hold, user text that stays text, a big catalog."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from actions.services.search import (
    build_fts_query,
    closest_products,
    fts_match_expression,
    query_tokens,
    resolve_category,
    search_products,
)
from actions.store import db
from actions.store.models import Category, Product
from actions.store.search_index import FTS_TABLE, create_search_index

CATEGORY_SLUGS = [
    "laptops", "monitors", "headphones", "keyboards", "mice", "webcams",
    "chairs", "docks-cables", "accessories", "protection-plans",
]  # fmt: skip
NASTY_TEXTS = [
    '"',
    '""',
    '"laptop',
    "laptop*",
    "*",
    "NEAR(laptop mouse)",
    "laptop OR mouse",
    "laptop AND NOT mouse",
    "(laptop",
    "laptop)",
    "-laptop",
    "^laptop",
    "name:laptop",
    "{name}:laptop",
    "'; DROP TABLE products; --",
    "1 OR 1=1",
    "<script>alert(1)</script>",
    "💻🖱️ laptop 🔥",
    "x" * 10_000,
    "laptop " * 2_000,
    "\x00laptop\x00",
    "\u200b",
    "%_%",
    "ＬＡＰＴＯＰ",
]


@pytest.fixture
def session(store: str) -> Iterator[Session]:
    with db.session_scope(store) as session:
        yield session


def _skus(hits) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.sku for h in hits]


def _plan(session: Session, query) -> str:  # type: ignore[no-untyped-def]
    compiled = query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
    rows = session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all()
    return "\n".join(row[-1] for row in rows)


# --- relevance and results -------------------------------------------------------------------


def test_finds_by_name_with_price_and_stock(session: Session) -> None:
    hits = search_products(session, "dock pro")
    assert hits[0].sku == "DCK-PRO"
    assert (hits[0].name, hits[0].price, hits[0].price_cents, hits[0].stock, hits[0].in_stock) == (
        "Dock Pro USB-C", "$149.00", 14900, 25, True,
    )  # fmt: skip
    assert hits[0].category == "docks-cables" and hits[0].category_name == "Docks & cables"
    assert hits[0].score > 0


def test_all_words_must_match_before_any_word_counts(session: Session) -> None:
    assert _skus(search_products(session, "a quiet wireless mouse for my office")) == ["MS-GLD"]
    # No product is both a "hoverboard" and a "mouse": then any word counts.
    assert "MS-GLD" in _skus(search_products(session, "hoverboard mouse", limit=10))


def test_stemming_and_descriptions(session: Session) -> None:
    assert "SLV-14" in _skus(search_products(session, "sleeves"))
    hits = search_products(session, "laptop for video editing")
    assert _skus(hits)[:2] == ["ST-15", "NB-16"]


def test_relevance_comes_first_then_in_stock(session: Session) -> None:
    # Make two products equally relevant (same text) and check in-stock wins the tie.
    session.execute(update(Product).where(Product.sku.in_(["HP-LITE", "HP-PRO"])).values(
        description="zebra", tags="", name="Zebra Headphones"
    ))  # fmt: skip
    session.execute(update(Product).where(Product.sku == "HP-LITE").values(stock=0))
    assert _skus(search_products(session, "zebra")) == ["HP-PRO", "HP-LITE"]


def test_out_of_stock_is_reported_honestly(session: Session) -> None:
    hit = next(h for h in search_products(session, "Nimbus 16 Pro") if h.sku == "NB-16")
    assert (hit.stock, hit.in_stock, hit.restock_date is not None) == (0, False, True)
    assert "NB-16" not in _skus(search_products(session, "Nimbus 16 Pro", in_stock_only=True))


def test_plans_count_as_in_stock(session: Session) -> None:
    hits = search_products(session, "CarePlus laptop protection", in_stock_only=True)
    assert "CARE-2Y" in _skus(hits)
    assert next(h for h in hits if h.sku == "CARE-2Y").stock is None


def test_sku_search(session: Session) -> None:
    assert _skus(search_products(session, "NB-14"))[0] == "NB-14"


def test_limit_is_respected_and_bounded(session: Session) -> None:
    assert len(search_products(session, "monitor", limit=2)) == 2
    assert len(search_products(session, None, limit=1000)) <= 50
    assert len(search_products(session, "monitor", limit=0)) == 1


def test_inactive_products_are_never_found(session: Session) -> None:
    session.execute(update(Product).where(Product.sku == "MS-GLD").values(active=False))
    assert "MS-GLD" not in _skus(search_products(session, "glide wireless mouse", limit=10))


# --- filters ---------------------------------------------------------------------------------


def test_category_and_budget_filters(session: Session) -> None:
    hits = search_products(session, None, category="laptops", max_price_cents=100_000)
    assert _skus(hits) == ["NB-12E", "NB-13A"]  # in stock, cheapest first
    assert all(h.category == "laptops" and h.price_cents <= 100_000 for h in hits)
    hits = search_products(session, "monitor", min_price_cents=40_000, max_price_cents=60_000)
    assert set(_skus(hits)) == {"MON-27", "MON-32C"}


def test_budget_bounds_are_inclusive(session: Session) -> None:
    assert "MS-GLD" in _skus(search_products(session, "mouse", max_price_cents=4900, limit=10))
    assert "MS-GLD" not in _skus(search_products(session, "mouse", max_price_cents=4899, limit=10))
    assert search_products(session, "mouse", min_price_cents=10_000, max_price_cents=100) == []


@pytest.mark.parametrize("name", ["laptops", "Laptop", "LAPTOPS", "Docks & cables", "docks-cables", "mouse"])
def test_category_by_slug_or_name(session: Session, name: str) -> None:
    assert resolve_category(session, name) is not None


def test_unknown_category_matches_nothing(session: Session) -> None:
    assert search_products(session, "laptop", category="spaceships") == []
    assert search_products(session, None, category="'; DROP TABLE categories; --") == []


def test_no_text_browses_in_stock_first(session: Session) -> None:
    hits = search_products(session, None, category="chairs", limit=10)
    assert _skus(hits)[-1] == "CH-STOOL"  # the only chair out of stock
    assert hits[0].score == 0.0


# --- user text is text -----------------------------------------------------------------------


def test_tokens_are_quoted_never_syntax() -> None:
    expression = fts_match_expression(query_tokens('NEAR("laptop" OR mouse*) -dock'))
    assert expression == '"near" AND "laptop" AND "mouse" AND "dock"'
    assert fts_match_expression(["ab"], any_token=True, prefix=True) == '"ab"*'
    assert query_tokens("") == [] and query_tokens(None) == [] and query_tokens("💻 ✨") == []
    assert query_tokens("the") == ["the"]  # only stop words: keep them rather than search for nothing
    assert len(query_tokens(" ".join(f"w{i}" for i in range(100)))) == 12


@pytest.mark.parametrize("nasty", NASTY_TEXTS)
def test_nasty_text_never_raises(session: Session, nasty: str) -> None:
    hits = search_products(session, nasty, category="laptops")
    assert all(h.category == "laptops" for h in hits)
    closest_products(session, nasty)


def test_sql_in_text_changes_nothing(session: Session) -> None:
    before = session.scalar(text("SELECT count(*) FROM products"))
    search_products(session, "'; DELETE FROM products; --")
    assert session.scalar(text("SELECT count(*) FROM products")) == before


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    words=st.text(min_size=0, max_size=300),
    category=st.sampled_from([*CATEGORY_SLUGS, None]),
    in_stock_only=st.booleans(),
)
def test_any_text_is_safe_and_stays_in_its_category(
    session: Session, words: str, category: str | None, in_stock_only: bool
) -> None:
    hits = search_products(session, words, category=category, in_stock_only=in_stock_only, max_price_cents=50_000)
    assert len(hits) <= 5
    for hit in hits:
        assert category is None or hit.category == category
        assert hit.price_cents <= 50_000
        assert not in_stock_only or hit.in_stock


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.sampled_from(['"', "*", "NEAR", "OR", "AND", "NOT", "(", ")", "-", "^", ":", "+",
                                      "laptop", "mouse", "'", ";", "--", "/*"]), max_size=12).map(" ".join))
def test_fts_operators_in_any_order_are_safe(session: Session, words: str) -> None:
    search_products(session, words)
    closest_products(session, words)


# --- the index is used and kept in sync ------------------------------------------------------


def test_query_plan_uses_the_fts_index(session: Session) -> None:
    laptops = resolve_category(session, "laptops")
    conditions = [Product.active.is_(True), Product.category_id == laptops.id, Product.price_cents <= 150_000]
    plan = _plan(session, build_fts_query(fts_match_expression(["laptop"]), conditions, 5))
    assert f"SCAN {FTS_TABLE} VIRTUAL TABLE" in plan
    assert "SCAN products" not in plan.replace(f"SCAN {FTS_TABLE}", "")
    assert "SEARCH products USING INTEGER PRIMARY KEY" in plan


def test_index_follows_insert_update_delete(session: Session) -> None:
    mice = session.scalar(select(Category.id).where(Category.slug == "mice"))
    session.execute(insert(Product).values(
        sku="MS-ZEB", name="Zebra Mouse", name_key="zebra mouse", description="striped", tags="",
        category_id=mice, price_cents=1000, stock=3, active=True,
    ))  # fmt: skip
    assert _skus(search_products(session, "zebra")) == ["MS-ZEB"]
    session.execute(update(Product).where(Product.sku == "MS-ZEB").values(name="Okapi Mouse", name_key="okapi mouse"))
    assert search_products(session, "zebra") == []
    assert _skus(search_products(session, "okapi")) == ["MS-ZEB"]
    # Stock changes do not touch the index but show in results.
    session.execute(update(Product).where(Product.sku == "MS-ZEB").values(stock=0))
    assert search_products(session, "okapi")[0].in_stock is False
    session.execute(delete(Product).where(Product.sku == "MS-ZEB"))
    assert search_products(session, "okapi") == []
    integrity = f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rank) VALUES ('integrity-check', 1)"
    session.connection().exec_driver_sql(integrity)  # raises if the index disagrees with the rows


def test_index_follows_a_category_rename(session: Session) -> None:
    session.execute(update(Category).where(Category.slug == "chairs").values(name="Seating"))
    # The stool is a "chair" only through its category's name.
    assert "CH-STOOL" in _skus(search_products(session, "seating", limit=10))
    assert "CH-STOOL" not in _skus(search_products(session, "chairs", limit=10))
    session.connection().exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rank) VALUES ('integrity-check', 1)")


def test_create_schema_is_idempotent_and_backfills(store: str) -> None:
    engine = db.get_engine(store)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE {FTS_TABLE}")
    assert create_search_index(engine) is True  # recreated and filled from existing products
    db.create_schema(store)  # and again: nothing breaks, nothing doubles
    with db.session_scope(store) as session:
        assert _skus(search_products(session, "Nimbus 14 Sleeve"))[0] == "SLV-14"


def test_without_the_index_search_still_works(store: str) -> None:
    engine = db.get_engine(store)
    with engine.begin() as connection:
        for trigger in ("insert", "delete", "update"):
            connection.exec_driver_sql(f"DROP TRIGGER products_fts_after_{trigger}")
        connection.exec_driver_sql(f"DROP TABLE {FTS_TABLE}")
    with db.session_scope(store) as session:
        assert _skus(search_products(session, "quiet wireless mouse")) == ["MS-GLD"]
        assert all(h.category == "laptops" for h in search_products(session, '"*NEAR(', category="laptops"))
        assert "DCK-PRO" in _skus(closest_products(session, "dock"))


# --- closest products ------------------------------------------------------------------------


def test_closest_by_prefix(session: Session) -> None:
    assert set(_skus(closest_products(session, "nimb", limit=3))) <= {"NB-14", "NB-16", "NB-13A", "NB-12E", "SLV-14"}
    assert len(closest_products(session, "nimb", limit=3)) == 3


def test_closest_by_spelling(session: Session) -> None:
    hits = closest_products(session, "Nimbuss 14 laptp")
    assert "NB-14" in _skus(hits)
    glide = closest_products(session, "glidde")
    assert glide and all(h.name.startswith("Glide ") for h in glide)


def test_closest_for_nothing_alike(session: Session) -> None:
    assert closest_products(session, "") == []
    assert closest_products(session, "qqqqzzzz") == []


# --- a big catalog ---------------------------------------------------------------------------

BIG = 20_000


def test_big_catalog_stays_correct_and_indexed(session: Session) -> None:
    """20k generated products through the triggers: right answers, and the plan still uses FTS."""
    categories = dict(session.execute(select(Category.slug, Category.id)).all())
    adjectives = ["Quiet", "Rapid", "Compact", "Studio", "Travel", "Ergo", "Silent", "Bright"]
    kinds = [("mice", "Mouse"), ("keyboards", "Keyboard"), ("monitors", "Monitor"), ("chairs", "Chair")]
    rows = []
    for i in range(BIG):
        slug, kind = kinds[i % len(kinds)]
        adjective = adjectives[(i // len(kinds)) % len(adjectives)]
        rows.append({
            "sku": f"GEN-{i:06d}", "name": f"{adjective} {kind} {i}", "name_key": f"{adjective} {kind} {i}".lower(),
            "description": f"Generated {kind.lower()} number {i}.", "tags": f"{kind.lower()};generated",
            "category_id": categories[slug], "price_cents": 1000 + (i * 37) % 90_000,
            "stock": i % 5, "active": True,
        })  # fmt: skip
    session.execute(insert(Product), rows)
    # One needle in the haystack.
    session.execute(update(Product).where(Product.sku == "GEN-012345").values(description="aurora borealis"))

    assert _skus(search_products(session, "aurora borealis")) == ["GEN-012345"]
    hits = search_products(session, "silent keyboard", category="keyboards", max_price_cents=5_000, in_stock_only=True)
    assert len(hits) == 5
    for hit in hits:
        assert hit.category == "keyboards" and hit.price_cents <= 5_000 and hit.in_stock
        assert "Silent" in hit.name or hit.sku.startswith("KB-")
    assert search_products(session, "keyboard 19999", limit=1)[0].sku == "GEN-019999"

    monitors = categories["monitors"]
    query = build_fts_query(
        fts_match_expression(["silent", "monitor"]),
        [Product.active.is_(True), Product.category_id == monitors, Product.price_cents <= 50_000],
        5,
    )
    plan = _plan(session, query)
    assert f"SCAN {FTS_TABLE} VIRTUAL TABLE" in plan
    assert "SCAN products" not in plan.replace(f"SCAN {FTS_TABLE}", "")


# --- PostgreSQL (opt-in: GOLDEN_RULE_TEST_PG_URL=postgresql://user@host:port/empty_db) ------------


@pytest.fixture
def pg_store() -> Iterator[str]:
    import os

    url = os.environ.get("GOLDEN_RULE_TEST_PG_URL")
    if not url:
        pytest.skip("set GOLDEN_RULE_TEST_PG_URL to an empty PostgreSQL database to run this")
    from actions.store.models import Base
    from actions.store.seed import seed_demo
    from tests.conftest import TODAY

    engine = db.get_engine(url)
    Base.metadata.drop_all(engine)
    db.create_schema(url)
    with db.session_scope(url) as session:
        seed_demo(session, TODAY)
    yield url
    Base.metadata.drop_all(engine)
    db.dispose_engines()


def test_postgres_search_is_functionally_the_same(pg_store: str) -> None:
    with db.session_scope(pg_store) as session:
        assert _skus(search_products(session, "a quiet wireless mouse for my office")) == ["MS-GLD"]
        assert _skus(search_products(session, "dock pro"))[0] == "DCK-PRO"
        assert "MS-GLD" in _skus(search_products(session, "hoverboard mouse", limit=10))
        hits = search_products(session, "laptop", category="laptops", max_price_cents=100_000)
        assert hits and all(h.category == "laptops" and h.price_cents <= 100_000 for h in hits)
        for nasty in NASTY_TEXTS:
            assert all(h.category == "mice" for h in search_products(session, nasty, category="mice"))
            closest_products(session, nasty)
        assert "DCK-PRO" in _skus(closest_products(session, "dock"))
        index = session.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_products_search'")).scalar()
        assert index is not None and "gin" in index.lower()
