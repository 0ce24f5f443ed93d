"""The store's tables: catalog, customers and orders, staff, tickets, offers and feedback.

Rules the schema keeps:
- money is stored as integer cents (never floats);
- every column a conversation looks things up by has an index (sku, lower-case name,
  category, customer email, order number, ticket reference, offer log by customer);
- ``stock`` is ``NULL`` for things that are not physical stock (protection plans), which
  the catalog treats as always available.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()


def utcnow() -> dt.datetime:
    """Naive UTC timestamp (SQLite has no time zones; everything stored is UTC)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class RelationKind(str, enum.Enum):
    """How one product relates to another in offers and alternatives."""

    accessory = "accessory"
    protection = "protection"
    upgrade = "upgrade"
    alternative = "alternative"


class OrderStatus(str, enum.Enum):
    processing = "processing"
    shipped = "shipped"
    delivered = "delivered"
    cancelled = "cancelled"


class Category(Base):
    __tablename__ = "categories"

    id = Column(Integer, primary_key=True)
    slug = Column(String(40), nullable=False, unique=True)
    name = Column(String(80), nullable=False)

    products = relationship("Product", back_populates="category")


class Product(Base):
    __tablename__ = "products"

    id = Column(Integer, primary_key=True)
    sku = Column(String(40), nullable=False, unique=True)
    name = Column(String(120), nullable=False)
    # Lower-cased name kept beside the display name so lookups by name use an index.
    name_key = Column(String(120), nullable=False, index=True)
    description = Column(Text, nullable=False, default="")
    category_id = Column(Integer, ForeignKey("categories.id"), nullable=False, index=True)
    price_cents = Column(Integer, nullable=False)
    stock = Column(Integer, nullable=True)
    restock_date = Column(Date, nullable=True)
    tags = Column(String(400), nullable=False, default="")
    active = Column(Boolean, nullable=False, default=True)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    category = relationship("Category", back_populates="products")

    @property
    def in_stock(self) -> bool:
        """Physical stock above zero, or not a stocked item at all (a service plan)."""
        return self.stock is None or self.stock > 0


class ProductRelation(Base):
    __tablename__ = "product_relations"
    __table_args__ = (
        UniqueConstraint("product_id", "related_id", "kind", name="uq_relation"),
        Index("ix_relation_product_kind", "product_id", "kind"),
    )

    id = Column(Integer, primary_key=True)
    product_id = Column(Integer, ForeignKey("products.id", ondelete="CASCADE"), nullable=False)
    related_id = Column(Integer, ForeignKey("products.id", ondelete="CASCADE"), nullable=False)
    kind = Column(Enum(RelationKind, native_enum=False, length=20), nullable=False)

    product = relationship("Product", foreign_keys=[product_id])
    related = relationship("Product", foreign_keys=[related_id])


class Customer(Base):
    __tablename__ = "customers"

    id = Column(Integer, primary_key=True)
    email = Column(String(254), nullable=False, unique=True)
    name = Column(String(120), nullable=False)
    phone = Column(String(40), nullable=True)
    preferred_contact = Column(String(20), nullable=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)

    orders = relationship("Order", back_populates="customer", order_by="Order.placed_at")


class Order(Base):
    __tablename__ = "orders"

    id = Column(Integer, primary_key=True)
    number = Column(String(20), nullable=False, unique=True)
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=False, index=True)
    status = Column(Enum(OrderStatus, native_enum=False, length=20), nullable=False)
    placed_at = Column(DateTime, nullable=False)
    shipped_at = Column(DateTime, nullable=True)
    delivered_at = Column(DateTime, nullable=True)
    carrier = Column(String(60), nullable=True)
    tracking_number = Column(String(60), nullable=True)
    promised_date = Column(Date, nullable=True)
    estimated_date = Column(Date, nullable=True)
    delay_reason = Column(String(200), nullable=True)
    total_cents = Column(Integer, nullable=False, default=0)

    customer = relationship("Customer", back_populates="orders")
    lines = relationship("OrderLine", back_populates="order", cascade="all, delete-orphan")


class OrderLine(Base):
    __tablename__ = "order_lines"

    id = Column(Integer, primary_key=True)
    order_id = Column(Integer, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True)
    product_id = Column(Integer, ForeignKey("products.id"), nullable=False, index=True)
    quantity = Column(Integer, nullable=False, default=1)
    unit_price_cents = Column(Integer, nullable=False)

    order = relationship("Order", back_populates="lines")
    product = relationship("Product")


class Promotion(Base):
    """A real promotion. The assistant mentions no discount that is not a row here."""

    __tablename__ = "promotions"

    id = Column(Integer, primary_key=True)
    code = Column(String(40), nullable=False, unique=True)
    title = Column(String(120), nullable=False)
    description = Column(Text, nullable=False)
    percent_off = Column(Integer, nullable=False)
    # The discounted item must have this relation to a product bought with it ("accessory"),
    # and that product must be in ``requires_category`` ("laptops").
    applies_to_relation = Column(String(20), nullable=True)
    requires_category = Column(String(40), nullable=True)
    active = Column(Boolean, nullable=False, default=True, index=True)
    starts_on = Column(Date, nullable=True)
    ends_on = Column(Date, nullable=True)


class Policy(Base):
    """Store policies (returns window, shipping, warranty...) the assistant quotes from."""

    __tablename__ = "policies"

    id = Column(Integer, primary_key=True)
    key = Column(String(40), nullable=False, unique=True)
    title = Column(String(120), nullable=False)
    body = Column(Text, nullable=False)
    value = Column(Integer, nullable=True)


class Staff(Base):
    __tablename__ = "staff"

    id = Column(Integer, primary_key=True)
    name = Column(String(120), nullable=False)
    role = Column(String(120), nullable=False)
    # Comma-separated skills: support, sales, billing, manager.
    skills = Column(String(200), nullable=False)
    email = Column(String(254), nullable=False, unique=True)
    phone = Column(String(40), nullable=True)
    slack_user_id = Column(String(40), nullable=True)
    timezone = Column(String(60), nullable=False, default="America/Chicago")
    # Working hours as "HH:MM" in ``timezone``, on ISO weekdays listed in ``work_days`` ("1,2,3,4,5").
    work_start = Column(String(5), nullable=False, default="09:00")
    work_end = Column(String(5), nullable=False, default="17:00")
    work_days = Column(String(20), nullable=False, default="1,2,3,4,5")
    active = Column(Boolean, nullable=False, default=True)


class Ticket(Base):
    __tablename__ = "tickets"

    id = Column(Integer, primary_key=True)
    reference = Column(String(20), nullable=False, unique=True)
    conversation_id = Column(String(200), nullable=True, index=True)
    reason = Column(String(40), nullable=False)
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=True, index=True)
    contact_channel = Column(String(20), nullable=True)
    contact_detail = Column(String(254), nullable=True)
    summary = Column(Text, nullable=False, default="")
    transcript = Column(Text, nullable=False, default="")
    staff_id = Column(Integer, ForeignKey("staff.id"), nullable=True, index=True)
    promised_by = Column(DateTime, nullable=True)
    status = Column(String(20), nullable=False, default="open", index=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    # Live handoff in Slack (actions/services/slack_handoff.py): the staff channel and the ts of the
    # ticket's thread there; NULL when Slack is off or the post failed. Agent replies are matched
    # to their ticket by this pair, hence the index.
    slack_channel = Column(String(20), nullable=True)
    slack_thread_ts = Column(String(32), nullable=True)
    # Whether the customer's email was proven (order number + email) in the conversation that opened
    # the ticket. Only then does a later lookup by reference + email prove who the requester is
    # (actions/services/identity.py); NULL (older tickets) counts as not proven.
    email_proven = Column(Boolean, nullable=True, default=False)

    __table_args__ = (Index("ix_ticket_slack_thread", "slack_channel", "slack_thread_ts"),)

    customer = relationship("Customer")
    staff = relationship("Staff")


# Columns added to an existing table after its first release: ``create_all`` creates missing tables
# but never alters existing ones, so a store created before these columns existed gets them (and
# their index) here, after every ``create_all``. Additive only: nothing is dropped or rewritten.
_ADDED_COLUMNS: dict[str, list[Column]] = {"tickets": [Ticket.__table__.c.slack_channel,
                                                      Ticket.__table__.c.slack_thread_ts,
                                                      Ticket.__table__.c.email_proven]}


@event.listens_for(Base.metadata, "after_create")
def _add_missing_columns(metadata: object, connection: Connection, **_: object) -> None:
    """Add the columns of :data:`_ADDED_COLUMNS` that an older store lacks (nullable, so no backfill)."""
    inspector = inspect(connection)
    for table_name, columns in _ADDED_COLUMNS.items():
        if not inspector.has_table(table_name):
            continue
        present = {column["name"] for column in inspector.get_columns(table_name)}
        missing = [column for column in columns if column.name not in present]
        for column in missing:
            kind = column.type.compile(dialect=connection.dialect)
            connection.execute(text(f'ALTER TABLE {table_name} ADD COLUMN "{column.name}" {kind}'))
        if missing:
            for index in Base.metadata.tables[table_name].indexes:
                index.create(connection, checkfirst=True)


class OfferLog(Base):
    __tablename__ = "offer_log"
    __table_args__ = (Index("ix_offer_customer_product", "customer_id", "product_id"),)

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(200), nullable=False, index=True)
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=True)
    product_id = Column(Integer, ForeignKey("products.id"), nullable=True)
    promotion_id = Column(Integer, ForeignKey("promotions.id"), nullable=True)
    outcome = Column(String(20), nullable=False, default="offered")
    offered_at = Column(DateTime, nullable=False, default=utcnow)
    decided_at = Column(DateTime, nullable=True)


class ReturnAuthorization(Base):
    """A return or a replacement the assistant opened for an order (reference like RMA-10001)."""

    __tablename__ = "return_authorizations"

    id = Column(Integer, primary_key=True)
    reference = Column(String(20), nullable=False, unique=True)
    order_id = Column(Integer, ForeignKey("orders.id"), nullable=False, index=True)
    kind = Column(String(20), nullable=False)  # return, damaged, wrong_item, missing
    resolution = Column(String(20), nullable=False)  # refund, replacement
    status = Column(String(20), nullable=False, default="open")
    conversation_id = Column(String(200), nullable=True, index=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)

    order = relationship("Order")


class Feedback(Base):
    __tablename__ = "feedback"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(200), nullable=False, index=True)
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=True)
    rating = Column(Integer, nullable=False)
    comment = Column(Text, nullable=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)

    customer = relationship("Customer")


class AccessFailure(Base):
    """A failed ownership check, kept to stop guessing across conversations (house rule 11).

    ``key`` is what was guessed at: "order:10042" or "email:<sha256 of the address>" (no personal
    data in clear).
    """

    __tablename__ = "access_failures"
    __table_args__ = (Index("ix_access_failure_key_time", "key", "created_at"),)

    id = Column(Integer, primary_key=True)
    key = Column(String(100), nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)


class BackInStockRequest(Base):
    """A customer asked to be told when an out-of-stock product is back (pending until notified)."""

    __tablename__ = "back_in_stock_requests"
    __table_args__ = (Index("ix_back_in_stock_pending", "notified_at", "created_at"),)

    id = Column(Integer, primary_key=True)
    product_id = Column(Integer, ForeignKey("products.id", ondelete="CASCADE"), nullable=False, index=True)
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=True, index=True)
    contact_channel = Column(String(20), nullable=False)  # email, phone, sms
    contact_detail = Column(String(254), nullable=False)
    conversation_id = Column(String(200), nullable=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    notified_at = Column(DateTime, nullable=True)

    product = relationship("Product")
    customer = relationship("Customer")
