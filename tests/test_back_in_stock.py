"""Back-in-stock requests: stored only when they make sense, listed for staff, no duplicates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import inspect, select, update
from sqlalchemy.orm import Session

from actions import cli
from actions.services.back_in_stock import (
    RequestStatus,
    list_back_in_stock,
    mark_notified,
    normalize_contact,
    request_back_in_stock,
)
from actions.store import db
from actions.store.models import BackInStockRequest, Product

NOW = dt.datetime(2026, 11, 23, 18, 0)


@pytest.fixture
def session(store: str) -> Iterator[Session]:
    with db.session_scope(store) as session:
        yield session


def test_request_for_an_out_of_stock_product(session: Session) -> None:
    result = request_back_in_stock(
        session, "nb-16", "email", "Dana@Example.com ", customer_email="dana@example.com", conversation_id="c1", now=NOW
    )
    assert result.status is RequestStatus.created and result.request_id
    assert (result.sku, result.name, result.restock_date) == ("NB-16", "Nimbus 16 Pro Laptop", dt.date(2026, 12, 11))
    row = session.get(BackInStockRequest, result.request_id)
    assert row is not None
    assert (row.contact_channel, row.contact_detail, row.conversation_id, row.created_at, row.notified_at) == (
        "email", "dana@example.com", "c1", NOW, None,
    )  # fmt: skip
    assert row.customer is not None and row.customer.name == "Dana Reyes"


def test_verified_customer_email_is_used_when_none_given(session: Session) -> None:
    result = request_back_in_stock(session, "CH-STOOL", "e-mail", customer_email="sam@example.com")
    assert result.status is RequestStatus.created
    assert session.get(BackInStockRequest, result.request_id).contact_detail == "sam@example.com"  # type: ignore[union-attr]


def test_same_request_twice_is_kept_once(session: Session) -> None:
    first = request_back_in_stock(session, "NB-16", "sms", "+1 312 555 0199")
    second = request_back_in_stock(session, "NB-16", "SMS", "+1  312 555 0199")
    assert (first.status, second.status) == (RequestStatus.created, RequestStatus.already_requested)
    assert first.request_id == second.request_id
    assert len(list_back_in_stock(session)) == 1


def test_nothing_stored_when_it_can_be_bought_now(session: Session) -> None:
    assert request_back_in_stock(session, "NB-14", "email", "a@example.com").status is RequestStatus.in_stock
    assert request_back_in_stock(session, "CARE-2Y", "email", "a@example.com").status is RequestStatus.in_stock
    assert request_back_in_stock(session, "NOPE-1", "email", "a@example.com").status is RequestStatus.unknown_product
    session.execute(update(Product).where(Product.sku == "NB-16").values(active=False))
    assert request_back_in_stock(session, "NB-16", "email", "a@example.com").status is RequestStatus.unknown_product
    assert list_back_in_stock(session) == []


@pytest.mark.parametrize(
    ("channel", "detail"),
    [("email", "not-an-email"), ("email", ""), ("phone", "12"), ("sms", "call me"), ("pigeon", "a@example.com"),
     ("email", "x@y"), ("phone", "<script>1234567</script>")],
)  # fmt: skip
def test_unusable_contacts_are_refused(session: Session, channel: str, detail: str) -> None:
    result = request_back_in_stock(session, "NB-16", channel, detail)
    assert result.status is RequestStatus.invalid_contact
    assert list_back_in_stock(session) == []


def test_normalize_contact() -> None:
    assert normalize_contact("Text", "(312) 555-0199") == ("sms", "(312) 555-0199")
    assert normalize_contact("mail", " A@B.io ") == ("email", "a@b.io")
    assert normalize_contact(None, None) is None


def test_list_is_oldest_first_and_filters(session: Session) -> None:
    request_back_in_stock(session, "CH-STOOL", "email", "b@example.com", now=NOW)
    early = request_back_in_stock(session, "NB-16", "email", "a@example.com", now=NOW - dt.timedelta(days=2))
    request_back_in_stock(session, "NB-16", "phone", "+1 312 555 0100", now=NOW - dt.timedelta(days=1))
    pending = list_back_in_stock(session)
    assert [(p.sku, p.contact_detail) for p in pending] == [
        ("NB-16", "a@example.com"), ("NB-16", "+1 312 555 0100"), ("CH-STOOL", "b@example.com"),
    ]  # fmt: skip
    assert [p.sku for p in list_back_in_stock(session, sku="ch-stool")] == ["CH-STOOL"]

    assert mark_notified(session, early.request_id, now=NOW)  # type: ignore[arg-type]
    assert mark_notified(session, early.request_id) is False  # type: ignore[arg-type]
    assert mark_notified(session, 999_999) is False
    assert len(list_back_in_stock(session)) == 2
    everything = list_back_in_stock(session, include_notified=True)
    assert len(everything) == 3 and everything[0].notified_at == NOW
    # After a notification the same contact may ask again.
    again = request_back_in_stock(session, "NB-16", "email", "a@example.com")
    assert again.status is RequestStatus.created


def test_product_is_indexed(store: str) -> None:
    indexes = inspect(db.get_engine(store)).get_indexes("back_in_stock_requests")
    assert any(ix["column_names"] == ["product_id"] for ix in indexes)


def test_staff_command_lists_pending_requests(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["back-in-stock"]) == 0
    assert "No pending back-in-stock requests." in capsys.readouterr().out
    with db.session_scope(store) as session:
        request_back_in_stock(session, "NB-16", "email", "dana@example.com", now=NOW)
        request_back_in_stock(session, "CH-STOOL", "phone", "+1 312 555 0199", now=NOW)
    assert cli.main(["back-in-stock"]) == 0
    out = capsys.readouterr().out
    assert "NB-16 Nimbus 16 Pro Laptop" in out and "email: dana@example.com" in out
    assert "CH-STOOL" in out and "phone: +1 312 555 0199" in out and "2026-11-23 18:00" in out
    assert "2 request(s)." in out
    assert cli.main(["back-in-stock", "--sku", "CH-STOOL"]) == 0
    assert "NB-16" not in capsys.readouterr().out
    with db.session_scope(store) as session:
        first = session.scalars(select(BackInStockRequest.id).order_by(BackInStockRequest.id)).first()
        mark_notified(session, first, now=NOW)  # type: ignore[arg-type]
    assert cli.main(["back-in-stock", "--all"]) == 0
    assert "notified 2026-11-23" in capsys.readouterr().out
