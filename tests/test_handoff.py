"""Escalation service: owner choice, tickets stored atomically, ownership-checked status, contact preferences."""

from __future__ import annotations

import datetime as dt
import logging
import re
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from actions.services import handoff
from actions.services.handoff import (
    REASON_SKILLS,
    REASONS,
    InvalidContact,
    NoStaffAvailable,
    UnknownReason,
    UnknownSkill,
    assign_staff,
    create_ticket,
    manager_contact,
    mask_email,
    mask_phone,
    preferred_contact,
    set_preferred_contact,
    ticket_status,
)
from actions.store import db
from actions.store.models import Customer, Staff, Ticket

CHICAGO = ZoneInfo("America/Chicago")
UTC = dt.timezone.utc
OWNER_BY_SKILL = {"support": "Priya Shah", "billing": "Priya Shah", "sales": "Jo Kim", "manager": "Marcus Lee"}


def chicago(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=CHICAGO).astimezone(UTC)


MONDAY_10 = chicago(2026, 11, 23, 10, 0)  # TODAY in conftest, inside support hours
FRIDAY_EVENING = chicago(2026, 11, 27, 18, 30)
SATURDAY_10 = chicago(2026, 11, 28, 10, 0)


def new_ticket(session: Session, **overrides: object) -> handoff.TicketReceipt:
    values: dict[str, object] = {
        "conversation_id": "conv-1",
        "reason": "request_human",
        "customer_email": "dana@example.com",
        "contact_channel": "email",
        "contact_detail": None,
        "summary": "Laptop order 10042 is late.",
        "transcript": "user: where is my laptop?\nbot: It is held up at the UPS hub.",
        "now": MONDAY_10,
    }
    values.update(overrides)
    return create_ticket(session, **values)  # type: ignore[arg-type]


def add_staff(session: Session, name: str, skills: str, **hours: str) -> Staff:
    staff = Staff(
        name=name,
        role="support specialist",
        skills=skills,
        email=f"{name.split()[0].lower()}@brightdesk.example",
        timezone=hours.get("timezone", "America/Chicago"),
        work_start=hours.get("start", "09:00"),
        work_end=hours.get("end", "17:00"),
        work_days=hours.get("days", "1,2,3,4,5"),
        active=True,
    )
    session.add(staff)
    session.flush()
    return staff


def deactivate(session: Session, *names: str) -> None:
    session.execute(update(Staff).where(Staff.name.in_(names)).values(active=False))


def ticket_count(url: str) -> int:
    with db.session_scope(url) as session:
        return session.scalar(select(func.count(Ticket.id)))


# --------------------------------------------------------------------------------------------- assign_staff


@pytest.mark.parametrize(("skill", "owner"), sorted(OWNER_BY_SKILL.items()))
def test_each_skill_goes_to_its_specialist(store: str, skill: str, owner: str) -> None:
    with db.session_scope(store) as session:
        assignment = assign_staff(session, skill, MONDAY_10)
    assert assignment.name == owner
    assert assignment.promised_by == chicago(2026, 11, 23, 14, 0)
    assert assignment.open_tickets == 0


def test_reason_skill_mapping_covers_every_reason() -> None:
    assert set(REASON_SKILLS.values()) == {"support", "sales", "billing", "manager"}
    assert REASON_SKILLS["pricing"] == "sales"
    assert REASON_SKILLS["billing"] == REASON_SKILLS["double_charge"] == "billing"
    assert REASON_SKILLS["ask_manager"] == REASON_SKILLS["legal"] == "manager"
    assert len(REASONS) == 13


def test_someone_at_work_sooner_beats_someone_off_until_monday(store: str) -> None:
    with db.session_scope(store) as session:
        add_staff(session, "Nia Brooks", "support", days="6,7", start="09:00", end="17:00")
        weekend = assign_staff(session, "support", SATURDAY_10)
        weekday = assign_staff(session, "support", MONDAY_10)
    assert (weekend.name, weekend.promised_by) == ("Nia Brooks", chicago(2026, 11, 28, 14, 0))
    assert weekday.name == "Priya Shah"  # Nia is off on Mondays


def test_a_colleague_in_an_earlier_time_zone_can_be_sooner(store: str) -> None:
    with db.session_scope(store) as session:
        add_staff(session, "Tom Ruiz", "support", timezone="America/New_York")
        # 08:00 Chicago = 09:00 New York: Tom is at work already (→ 12:00 Chicago), Priya starts at 09:00 (→ 13:00).
        early = assign_staff(session, "support", chicago(2026, 11, 23, 8, 0))
        # 16:30 Chicago: Priya has 30 min left (→ Tue 12:30 Chicago); Tom is off and starts Tue 08:00 Chicago
        # (→ Tue 12:00 Chicago), so Tom is still sooner.
        late = assign_staff(session, "support", chicago(2026, 11, 23, 16, 30))
        # 10:00 Chicago: both at work, both done by 14:00 Chicago — a tie, so load and then name decide.
        midday = assign_staff(session, "support", MONDAY_10)
    assert (early.name, early.promised_by) == ("Tom Ruiz", chicago(2026, 11, 23, 12, 0))
    assert (late.name, late.promised_by) == ("Tom Ruiz", chicago(2026, 11, 24, 12, 0))
    assert (midday.name, midday.promised_by) == ("Priya Shah", chicago(2026, 11, 23, 14, 0))


def test_tie_goes_to_the_fewest_open_tickets_then_the_name(store: str) -> None:
    with db.session_scope(store) as session:
        add_staff(session, "Zoe Park", "support")
        assert assign_staff(session, "support", MONDAY_10).name == "Priya Shah"  # 0 = 0 → name
        new_ticket(session)  # goes to Priya
        chosen = assign_staff(session, "support", MONDAY_10)
        assert (chosen.name, chosen.open_tickets) == ("Zoe Park", 0)
        # Resolved tickets are not load.
        session.execute(update(Ticket).values(status="resolved"))
        assert assign_staff(session, "support", MONDAY_10).name == "Priya Shah"


def test_the_manager_is_the_backup_not_the_first_line(store: str) -> None:
    with db.session_scope(store) as session:
        # Priya already has two open tickets and Marcus none; the specialist still comes first.
        new_ticket(session, conversation_id="a")
        new_ticket(session, conversation_id="b")
        assert assign_staff(session, "support", MONDAY_10).name == "Priya Shah"
        deactivate(session, "Priya Shah")
        assert assign_staff(session, "support", MONDAY_10).name == "Marcus Lee"


def test_nobody_with_the_skill_falls_back_to_a_manager_then_fails(store: str) -> None:
    with db.session_scope(store) as session:
        session.execute(update(Staff).where(Staff.name == "Marcus Lee").values(skills="manager"))
        deactivate(session, "Jo Kim")
        assert assign_staff(session, "sales", MONDAY_10).name == "Marcus Lee"
        deactivate(session, "Marcus Lee")
        with pytest.raises(NoStaffAvailable, match="sales"):
            assign_staff(session, "sales", MONDAY_10)


def test_staff_with_a_broken_schedule_are_skipped(store: str, caplog: pytest.LogCaptureFixture) -> None:
    with db.session_scope(store) as session:
        session.execute(update(Staff).where(Staff.name == "Jo Kim").values(work_start="nine"))
        with caplog.at_level(logging.WARNING, logger="actions.services.handoff"):
            assert assign_staff(session, "sales", MONDAY_10).name == "Marcus Lee"
    assert "skipped" in caplog.text


def test_unknown_skill_is_refused(store: str) -> None:
    with db.session_scope(store) as session, pytest.raises(UnknownSkill, match="expected one of"):
        assign_staff(session, "astrology", MONDAY_10)


def test_target_hours_come_from_the_policy_unless_given(store: str) -> None:
    with db.session_scope(store) as session:
        assert assign_staff(session, "sales", MONDAY_10, target_hours=1).promised_by == chicago(2026, 11, 23, 11, 0)


# --------------------------------------------------------------------------------------------- create_ticket


def test_friday_evening_pricing_request(store: str) -> None:
    with db.session_scope(store) as session:
        receipt = new_ticket(
            session, reason="pricing", contact_channel="email", now=FRIDAY_EVENING, summary="Wants 10 docks cheaper."
        )
    assert re.fullmatch(r"BD-\d{5}", receipt.reference)
    assert (receipt.staff_name, receipt.staff_role) == ("Jo Kim", "sales specialist")
    assert (receipt.contact_channel, receipt.contact_detail) == ("email", "dana@example.com")
    assert receipt.promised_by == chicago(2026, 11, 30, 13, 0)
    assert receipt.by_when == "by Monday, November 30 at 1:00 PM Central Time"
    assert receipt.reason == "pricing"

    with db.session_scope(store) as session:
        ticket = session.scalars(select(Ticket).where(Ticket.reference == receipt.reference)).one()
        assert ticket.status == "open"
        assert ticket.reason == "pricing"
        assert ticket.customer.email == "dana@example.com"
        assert ticket.staff.name == "Jo Kim"
        assert ticket.conversation_id == "conv-1"
        assert ticket.summary == "Wants 10 docks cheaper."
        assert "held up at the UPS hub" in ticket.transcript
        # Stored as naive UTC like every other timestamp in the store.
        assert ticket.promised_by == dt.datetime(2026, 11, 30, 19, 0)
        assert ticket.created_at == dt.datetime(2026, 11, 28, 0, 30)


def test_today_wording_in_the_receipt(store: str) -> None:
    with db.session_scope(store) as session:
        receipt = new_ticket(session, contact_channel="phone", contact_detail="+1 (312) 555-0123")
    assert receipt.by_when == "by 2:00 PM Central Time today"
    assert (receipt.staff_name, receipt.contact_channel, receipt.contact_detail) == (
        "Priya Shah",
        "phone",
        "+1 (312) 555-0123",
    )


@pytest.mark.parametrize("reason", sorted(REASONS))
def test_every_reason_is_recorded_and_routed(store: str, reason: str) -> None:
    with db.session_scope(store) as session:
        receipt = new_ticket(session, reason=reason)
    with db.session_scope(store) as session:
        ticket = session.scalars(select(Ticket).where(Ticket.reference == receipt.reference)).one()
        assert ticket.reason == reason
        assert ticket.staff.name == OWNER_BY_SKILL[REASON_SKILLS[reason]]


def test_references_are_unique_and_well_formed(store: str) -> None:
    references = []
    for n in range(6):
        with db.session_scope(store) as session:
            references.append(new_ticket(session, conversation_id=f"conv-{n}").reference)
    assert len(set(references)) == 6
    assert all(re.fullmatch(r"BD-\d{5}", ref) for ref in references)


def test_a_rolled_back_ticket_leaves_no_reference_behind(store: str) -> None:
    with pytest.raises(RuntimeError), db.session_scope(store) as session:
        lost = new_ticket(session)
        raise RuntimeError("the action failed after creating the ticket")
    with db.session_scope(store) as session:
        assert session.scalars(select(Ticket).where(Ticket.reference == lost.reference)).first() is None
        first = new_ticket(session)
        second = new_ticket(session, conversation_id="conv-2")
    # Random references (tests/test_identity.py checks they are not sequential): just distinct here.
    assert first.reference != second.reference


def test_unknown_reason_is_refused_and_nothing_is_written(store: str) -> None:
    with db.session_scope(store) as session, pytest.raises(UnknownReason, match="request_human"):
        new_ticket(session, reason="bored")
    assert ticket_count(store) == 0


@pytest.mark.parametrize(
    ("channel", "detail", "email", "problem"),
    [
        ("pigeon", None, "dana@example.com", "not one of"),
        ("phone", None, "dana@example.com", "phone number"),
        ("phone", "call me maybe", "dana@example.com", "phone number"),
        ("phone", "12345", "dana@example.com", "phone number"),
        ("email", None, None, "e-mail address"),
        ("email", "not-an-address", "dana@example.com", "e-mail address"),
        ("chat", None, "dana@@example", "customer e-mail"),
    ],
)
def test_contact_details_are_checked(store: str, channel: str, detail: str | None, email: str | None,
                                     problem: str) -> None:
    with db.session_scope(store) as session, pytest.raises(InvalidContact, match=problem):
        new_ticket(session, contact_channel=channel, contact_detail=detail, customer_email=email)
    assert ticket_count(store) == 0


def test_email_contact_can_use_another_address_on_the_ticket(store: str) -> None:
    with db.session_scope(store) as session:
        receipt = new_ticket(session, contact_channel="EMAIL", contact_detail=" Dana.Work@Example.com ")
    assert (receipt.contact_channel, receipt.contact_detail) == ("email", "dana.work@example.com")


def test_anonymous_chat_ticket(store: str) -> None:
    with db.session_scope(store) as session:
        receipt = new_ticket(session, customer_email=None, contact_channel="chat", contact_detail="ignored")
    assert (receipt.contact_channel, receipt.contact_detail) == ("chat", None)
    with db.session_scope(store) as session:
        assert session.scalars(select(Ticket)).one().customer is None


def test_email_case_does_not_split_customers_and_newcomers_get_a_row(store: str) -> None:
    with db.session_scope(store) as session:
        new_ticket(session, customer_email="  DANA@Example.COM ")
        new_ticket(session, customer_email="Lee.New@Example.com", conversation_id="conv-new")
    with db.session_scope(store) as session:
        owners = {t.customer.email for t in session.scalars(select(Ticket))}
        assert owners == {"dana@example.com", "lee.new@example.com"}
        newcomer = session.scalars(select(Customer).where(Customer.email == "lee.new@example.com")).one()
        assert newcomer.name == ""  # never invented


def test_same_conversation_and_reason_gets_the_same_open_ticket(store: str) -> None:
    with db.session_scope(store) as session:
        first = new_ticket(session)
        again = new_ticket(session, now=MONDAY_10 + dt.timedelta(minutes=5))
        other = new_ticket(session, reason="double_charge")
    assert again.reference == first.reference
    assert again.promised_by == first.promised_by
    assert other.reference != first.reference
    assert ticket_count(store) == 2


def test_explicit_skill_overrides_the_reason_default(store: str) -> None:
    with db.session_scope(store) as session:
        receipt = new_ticket(session, reason="policy_limit", skill="sales")
    assert receipt.staff_name == "Jo Kim"


def test_naive_now_is_refused(store: str) -> None:
    with db.session_scope(store) as session, pytest.raises(ValueError, match="timezone-aware"):
        new_ticket(session, now=dt.datetime(2026, 11, 23, 10, 0))


def test_a_failed_commit_leaves_no_ticket_and_no_new_customer(store: str) -> None:
    def refuse(_session: Session) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"), db.session_scope(store) as session:
        event.listen(session, "before_commit", refuse)
        receipt = new_ticket(session, customer_email="first.timer@example.com")
        # The ticket was really written inside the transaction before the commit failed.
        assert session.scalars(select(Ticket).where(Ticket.reference == receipt.reference)).one()
    assert ticket_count(store) == 0
    with db.session_scope(store) as session:
        assert session.scalars(select(Customer).where(Customer.email == "first.timer@example.com")).first() is None


def test_a_later_failure_in_the_same_unit_of_work_rolls_the_ticket_back(store: str) -> None:
    with pytest.raises(IntegrityError), db.session_scope(store) as session:
        new_ticket(session)
        session.add(Customer(email="dana@example.com", name="Duplicate Dana"))  # unique email
        session.flush()
    assert ticket_count(store) == 0


def test_no_staff_means_no_ticket(store: str) -> None:
    with pytest.raises(NoStaffAvailable), db.session_scope(store) as session:
        deactivate(session, "Priya Shah", "Jo Kim", "Marcus Lee")
        new_ticket(session, customer_email="first.timer@example.com")
    assert ticket_count(store) == 0


def test_personal_data_is_masked_in_logs(store: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="actions.services.handoff"), db.session_scope(store) as session:
        receipt = new_ticket(session, contact_channel="phone", contact_detail="+1 312 555 0123")
        set_preferred_contact(session, "dana@example.com", "phone", "+1 312 555 0123")
    assert receipt.reference in caplog.text
    assert "d***@example.com" in caplog.text
    assert "dana@example.com" not in caplog.text
    assert "555" not in caplog.text


def test_masks() -> None:
    assert mask_email("dana@example.com") == "d***@example.com"
    assert mask_email("nonsense") == "***"
    assert mask_phone("+1 312 555 0199") == "***99"
    assert mask_phone(None) == "***"


# --------------------------------------------------------------------------------------------- manager_contact


def test_manager_contact_is_marcus(store: str) -> None:
    with db.session_scope(store) as session:
        contact = manager_contact(session)
    assert contact == handoff.ManagerContact(
        name="Marcus Lee", role="customer care manager", email="marcus.lee@brightdesk.example"
    )


def test_no_active_manager_means_none(store: str) -> None:
    with db.session_scope(store) as session:
        deactivate(session, "Marcus Lee")
        assert manager_contact(session) is None


# --------------------------------------------------------------------------------------------- ticket_status


def test_owner_sees_status(store: str) -> None:
    with db.session_scope(store) as session:
        receipt = new_ticket(session)
    with db.session_scope(store) as session:
        status = ticket_status(session, receipt.reference.lower(), " Dana@Example.com ")
    assert status is not None
    assert (status.reference, status.status, status.reason) == (receipt.reference, "open", "request_human")
    assert (status.owner_name, status.owner_role) == ("Priya Shah", "support specialist")
    assert status.promised_by == receipt.promised_by
    assert status.created_at == status.last_update == MONDAY_10


def test_last_update_follows_changes(store: str) -> None:
    with db.session_scope(store) as session:
        receipt = new_ticket(session)
    later = dt.datetime(2026, 11, 23, 18, 0)
    with db.session_scope(store) as session:
        session.execute(update(Ticket).values(status="resolved", updated_at=later))
    with db.session_scope(store) as session:
        status = ticket_status(session, receipt.reference, "dana@example.com")
    assert status is not None and status.status == "resolved"
    assert status.last_update == later.replace(tzinfo=UTC)


def test_someone_else_sees_nothing(store: str) -> None:
    with db.session_scope(store) as session:
        receipt = new_ticket(session)
        anonymous = new_ticket(session, customer_email=None, contact_channel="chat", conversation_id="anon")
    with db.session_scope(store) as session:
        assert ticket_status(session, receipt.reference, "sam@example.com") is None
        assert ticket_status(session, "BD-9999999", "dana@example.com") is None  # never drawn (5 digits)
        assert ticket_status(session, anonymous.reference, "dana@example.com") is None


@pytest.mark.parametrize(
    ("reference", "email"),
    [
        ("10427", "dana@example.com"),
        ("BD-1", "dana@example.com"),
        ("BD-10427; DROP TABLE tickets", "dana@example.com"),
        ("", "dana@example.com"),
        ("BD-10001", "not an email"),
        ("BD-10001", ""),
    ],
)
def test_malformed_input_never_queries(store: str, reference: str, email: str) -> None:
    statements: list[str] = []
    engine = db.get_engine(store)

    def record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        with db.session_scope(store) as session:
            assert ticket_status(session, reference, email) is None
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert statements == []


# --------------------------------------------------------------------------------------------- contact preference


def test_phone_preference_is_stored_on_the_customer(store: str) -> None:
    with db.session_scope(store) as session:
        pref = set_preferred_contact(session, "Sam@Example.com", "phone", "+1 312 555 0123")
    assert pref == handoff.ContactPreference("phone", "+1 312 555 0123")
    with db.session_scope(store) as session:
        sam = session.scalars(select(Customer).where(Customer.email == "sam@example.com")).one()
        assert (sam.preferred_contact, sam.phone) == ("phone", "+1 312 555 0123")
        assert preferred_contact(session, "sam@example.com") == pref


def test_email_and_chat_preferences(store: str) -> None:
    with db.session_scope(store) as session:
        assert set_preferred_contact(session, "dana@example.com", "email") == handoff.ContactPreference(
            "email", "dana@example.com"
        )
        assert preferred_contact(session, "DANA@example.com") == handoff.ContactPreference("email", "dana@example.com")
        assert set_preferred_contact(session, "dana@example.com", "chat", "whatever") == handoff.ContactPreference(
            "chat", None
        )
        dana = session.scalars(select(Customer).where(Customer.email == "dana@example.com")).one()
        assert dana.phone == "+1 312 555 0199"  # untouched by a non-phone preference


def test_preference_for_a_newcomer_creates_the_customer(store: str) -> None:
    with db.session_scope(store) as session:
        set_preferred_contact(session, "new.person@example.com", "chat")
    with db.session_scope(store) as session:
        assert preferred_contact(session, "new.person@example.com") == handoff.ContactPreference("chat", None)


def test_bad_preferences_are_refused(store: str) -> None:
    with db.session_scope(store) as session:
        with pytest.raises(InvalidContact, match="address on the customer's account"):
            set_preferred_contact(session, "dana@example.com", "email", "other@example.com")
        with pytest.raises(InvalidContact, match="not one of"):
            set_preferred_contact(session, "dana@example.com", "fax", "123")
        with pytest.raises(InvalidContact, match="e-mail address is not valid"):
            set_preferred_contact(session, "dana", "chat")
        assert preferred_contact(session, "dana@example.com") is None  # nothing stored
        assert preferred_contact(session, "nobody@example.com") is None
        assert preferred_contact(session, "junk") is None
