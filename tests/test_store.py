"""The store: demo fixtures exactly as in shared/DESIGN.md, idempotent seeding, indexes, units of work."""

from __future__ import annotations

import pytest
from sqlalchemy import func, inspect, select

from actions.store import db
from actions.store.models import (
    Base,
    Category,
    Customer,
    Order,
    OrderStatus,
    Product,
    ProductRelation,
    Promotion,
    RelationKind,
    Staff,
)
from actions.store.seed import seed_demo
from tests.conftest import TODAY

FIXTURE_PRODUCTS = {
    "NB-14": ("Nimbus 14 Laptop", 119900, 12),
    "NB-16": ("Nimbus 16 Pro Laptop", 189900, 0),
    "SLV-14": ("Nimbus 14 Sleeve", 3900, 40),
    "DCK-PRO": ("Dock Pro USB-C", 14900, 25),
    "MS-GLD": ("Glide Wireless Mouse", 4900, 60),
    "HP-ANC": ("Echo ANC Headphones", 24900, 18),
    "HP-LITE": ("Echo Lite Headphones", 9900, 30),
    "HP-CASE": ("Echo Travel Case", 2900, 50),
    "MON-27": ("Vista 27 4K Monitor", 42900, 9),
    "MON-24": ("Vista 24 Monitor", 21900, 14),
    "ARM-1": ("FlexArm Monitor Mount", 8900, 20),
    "CARE-2Y": ("CarePlus 2-Year Protection", 12900, None),
}


def _related(session, sku: str, kind: RelationKind) -> set[str]:
    product = session.scalars(select(Product).where(Product.sku == sku)).one()
    rows = session.scalars(
        select(ProductRelation).where(ProductRelation.product_id == product.id, ProductRelation.kind == kind)
    )
    return {r.related.sku for r in rows}


def test_fixture_products_are_exact(store: str) -> None:
    with db.session_scope(store) as session:
        for sku, (name, cents, stock) in FIXTURE_PRODUCTS.items():
            product = session.scalars(select(Product).where(Product.sku == sku)).one()
            assert (product.name, product.price_cents, product.stock) == (name, cents, stock), sku


def test_catalog_has_enough_breadth(store: str) -> None:
    with db.session_scope(store) as session:
        assert session.scalar(select(func.count(Product.id))) >= 40
        used = session.scalar(select(func.count(func.distinct(Product.category_id))))
        assert used >= 8
        assert session.scalar(select(func.count(Category.id))) >= 9


def test_fixture_relations(store: str) -> None:
    with db.session_scope(store) as session:
        assert _related(session, "NB-14", RelationKind.accessory) == {"SLV-14", "DCK-PRO", "MS-GLD"}
        assert _related(session, "NB-14", RelationKind.protection) == {"CARE-2Y"}
        assert _related(session, "NB-16", RelationKind.alternative) == {"NB-14"}
        assert _related(session, "HP-ANC", RelationKind.accessory) == {"HP-CASE"}
        assert _related(session, "MON-27", RelationKind.accessory) == {"ARM-1"}
        nb16 = session.scalars(select(Product).where(Product.sku == "NB-16")).one()
        assert nb16.restock_date is not None and nb16.restock_date > TODAY


def test_fixture_customers_and_orders(store: str) -> None:
    with db.session_scope(store) as session:
        orders = {o.number: o for o in session.scalars(select(Order))}
        late = orders["10042"]
        assert late.customer.email == "dana@example.com" and late.customer.name == "Dana Reyes"
        assert late.status is OrderStatus.shipped
        assert late.promised_date < TODAY < late.estimated_date
        assert late.delay_reason and late.carrier
        assert [line.product.sku for line in late.lines] == ["NB-14"]

        returnable = orders["10031"]
        assert returnable.status is OrderStatus.delivered
        assert (TODAY - returnable.delivered_at.date()).days == 20
        assert [line.product.sku for line in returnable.lines] == ["HP-ANC"]

        processing = orders["10061"]
        assert processing.customer.email == "sam@example.com" and processing.customer.name == "Sam Okafor"
        assert processing.status is OrderStatus.processing
        assert [line.product.sku for line in processing.lines] == ["MON-27"]
        assert processing.total_cents == 42900


def test_staff_and_the_one_promotion(store: str) -> None:
    with db.session_scope(store) as session:
        staff = {s.name: s for s in session.scalars(select(Staff))}
        assert staff["Priya Shah"].role == "support specialist"
        assert staff["Jo Kim"].role == "sales specialist"
        assert staff["Marcus Lee"].role == "customer care manager"
        assert staff["Marcus Lee"].email == "marcus.lee@brightdesk.example"
        promotions = list(session.scalars(select(Promotion)))
        assert len(promotions) == 1
        assert promotions[0].percent_off == 15 and promotions[0].requires_category == "laptops"


def _snapshot(url: str) -> dict[str, list[tuple]]:
    """Every row of every table, leaving out bookkeeping timestamps (``updated_at``)."""
    with db.get_engine(url).connect() as conn:
        return {
            name: sorted(
                tuple(str(v) for k, v in row._mapping.items() if k != "updated_at")
                for row in conn.execute(table.select())
            )
            for name, table in Base.metadata.tables.items()
        }


def test_seeding_is_idempotent(store: str) -> None:
    before = _snapshot(store)
    with db.session_scope(store) as session:
        seed_demo(session, TODAY)
    assert _snapshot(store) == before


def test_every_conversation_lookup_is_indexed(store: str) -> None:
    inspector = inspect(db.get_engine(store))

    def indexed(table: str, column: str) -> bool:
        single = any(ix["column_names"][:1] == [column] for ix in inspector.get_indexes(table))
        unique = any(uc["column_names"][:1] == [column] for uc in inspector.get_unique_constraints(table))
        return single or unique

    for table, column in [
        ("products", "sku"),
        ("products", "name_key"),
        ("products", "category_id"),
        ("customers", "email"),
        ("orders", "number"),
        ("orders", "customer_id"),
        ("order_lines", "order_id"),
        ("product_relations", "product_id"),
        ("tickets", "reference"),
        ("tickets", "conversation_id"),
        ("offer_log", "customer_id"),
        ("offer_log", "conversation_id"),
        ("feedback", "conversation_id"),
    ]:
        assert indexed(table, column), f"{table}.{column} has no index"


def test_session_scope_rolls_back_on_error(store: str) -> None:
    with pytest.raises(RuntimeError), db.session_scope(store) as session:
        session.add(Customer(email="new@example.com", name="New Person"))
        session.flush()
        raise RuntimeError("boom")
    with db.session_scope(store) as session:
        assert session.scalars(select(Customer).where(Customer.email == "new@example.com")).first() is None
