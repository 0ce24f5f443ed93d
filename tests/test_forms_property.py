"""Property-based tests over the form validators (issue 8, hostile and odd input).

For any value a customer can put into a form slot (arbitrary unicode, control and zero-width
characters, right-to-left text, ~20,000-character strings, SQL fragments, format strings, markup,
and non-strings such as None, numbers, lists and dicts), each validator of
``order_verification_form``, ``handoff_form``, ``notify_form`` and ``ticket_form``:

- never raises, and returns a JSON-serialisable dict holding only the slots it owns;
- sets each slot either to ``None`` (rejected, with exactly one specific response uttered and no
  free text, so never a stack trace) or to a normalized valid value that validates to itself again;
- accepts, normalized, every well-formed value a strategy can type (order numbers with ``#``,
  padding and full-width digits; e-mails in any case; phone numbers with the usual separators;
  ticket references in any case);
- leaves the store as it was (checksum of every table, `tests/conftest.py::store_checksum`),
  except for the failed-check counter that a real failed ownership check records (house rule 11).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import time
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import delete, func, select

from actions.handoff import ValidateHandoffForm, ValidateTicketForm
from actions.sales import ValidateNotifyForm
from actions.store import db
from actions.store.models import AccessFailure, Customer
from actions.support import ValidateOrderVerificationForm
from tests.conftest import HOSTILE, make_tracker, store_checksum

DOMAIN: dict[str, Any] = {
    "forms": {
        "order_verification_form": {"required_slots": ["order_id", "email"]},
        "handoff_form": {"required_slots": ["contact_channel", "contact_detail"]},
        "notify_form": {"required_slots": ["contact_channel", "contact_detail"]},
        "ticket_form": {"required_slots": ["ticket_ref", "email"]},
    }
}

# One seeded store per test function, many examples against it: fast, and the store checksum
# compares each example against the state it started from.
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
QUICK = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# --- what a normalized value looks like ----------------------------------------------------------

ORDER_NUMBER = re.compile(r"[0-9]{5,8}")
# Dot-atom local part (no leading, trailing or doubled dots), DNS labels, an alphabetic TLD; lower case.
VALID_EMAIL = re.compile(
    r"(?!\.)(?!.*\.\.)[a-z0-9._%+'-]{1,64}(?<!\.)@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}"
)
TICKET_REF = re.compile(r"BD-[0-9]{5,9}")
PHONE_CHARS = set("+0123456789 ().-")
CHANNELS = {"email", "phone", "chat"}

# --- strategies: anything a customer can type or an entity can carry --------------------------

ODD_CHARS = st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Nd", "No", "Lo", "So"])
EXTRA_NASTY = [
    "{0}", "%s", "%(email)s", "{{x}}", "{order_id}", "${x}", "\u202e10042", "10042\u200b", "\u200f#10042",
    "١٠٠٤٢", "10042\n", "#", "@", "dana@example.com\x00", "<b>dana@example.com</b>", "BD-١٠٤٢٧",
    "bd-10427'; DROP TABLE tickets;--", "+1 312 555 0100 OR 1=1", "javascript:alert(1)", "\ufeffemail",
]
NASTY = st.sampled_from(HOSTILE + EXTRA_NASTY)
# Hypothesis draws at most a few KB per example, so long inputs are a short piece repeated.
HUGE = st.tuples(st.text(min_size=1, max_size=8), st.integers(min_value=1_000, max_value=20_000)).map(
    lambda piece: (piece[0] * (piece[1] // len(piece[0]) + 1))[: piece[1]]
)
# Shapes close to the valid ones, with odd characters and separators in between.
NEAR_VALID = st.tuples(
    st.sampled_from(["", "#", "BD-", "bd-", "+", "+1 ", "(", "dana", "dana@", "@example.com", "10042"]),
    st.text(alphabet=st.one_of(ODD_CHARS, st.sampled_from("0123456789@.#-+() BDbdx_'%")), max_size=30),
    st.sampled_from(["", ".com", "@example.com", "0100", ")", ".", "-"]),
).map("".join)
# Dots and hyphens in every place of an address, and digits from every script after a prefix.
EMAIL_LIKE = st.from_regex(r"[a.'+]{1,4}@[a\-]{1,4}(\.[a\-]{1,4}){0,2}\.[a-z]{2,3}", fullmatch=True)
OTHER_DIGITS = st.tuples(
    st.sampled_from(["", "#", "BD-", "+"]), st.text(alphabet=st.characters(categories=["Nd"]), min_size=5, max_size=12)
).map("".join)
# What buttons and entities put into the slots: the valid values themselves.
SLOT_SHAPED = st.sampled_from(["chat", "email", "phone", "here", "10042", "dana@example.com", "BD-10001",
                               "+1 312 555 0100"])
TEXT = st.one_of(st.text(max_size=120), NASTY, HUGE, NEAR_VALID, EMAIL_LIKE, OTHER_DIGITS, SLOT_SHAPED)
NON_TEXT = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(),
    st.lists(st.one_of(st.text(max_size=12), st.integers(), st.just("10042"), st.just("dana@example.com")), max_size=3),
    st.dictionaries(st.text(max_size=6), st.one_of(st.text(max_size=12), st.integers()), max_size=3),
)
ANY_VALUE = st.one_of(TEXT, NON_TEXT)

FULL_WIDTH = str.maketrans("0123456789#+-()", "０１２３４５６７８９＃＋－（）")
PAD = st.sampled_from(["", " ", "  ", "\t", "\n", "\u00a0", "\u3000", " \r\n"])


@st.composite
def typed_order_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """(What the customer typed, the order number it means): '#', padding, a space, full width."""
    digits = draw(st.from_regex(ORDER_NUMBER, fullmatch=True))
    typed = draw(st.sampled_from(["", "#", "# "])) + digits
    if draw(st.booleans()):
        typed = typed[:-2] + " " + typed[-2:]
    if draw(st.booleans()):
        typed = typed.translate(FULL_WIDTH)
    return draw(PAD) + typed + draw(PAD), digits


@st.composite
def typed_emails(draw: st.DrawFn) -> tuple[str, str]:
    """(What the customer typed, the normalized address): any case, padded."""
    atom = st.from_regex(r"[A-Za-z0-9_%+'-]{1,12}", fullmatch=True)
    label = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?", fullmatch=True)
    local = ".".join(draw(st.lists(atom, min_size=1, max_size=3)))
    domain = ".".join(draw(st.lists(label, min_size=1, max_size=3)))
    address = f"{local}@{domain}.{draw(st.from_regex(r'[A-Za-z]{2,10}', fullmatch=True))}"
    return draw(PAD) + address + draw(PAD), address.lower()


@st.composite
def typed_phones(draw: st.DrawFn) -> tuple[str, str]:
    """(What the customer typed, the normalized number): 7–15 digits in groups, usual separators."""
    groups = draw(st.lists(st.from_regex(r"[0-9]{2,4}", fullmatch=True), min_size=2, max_size=5))
    assume(7 <= sum(map(len, groups)) <= 15)
    separator = draw(st.sampled_from([" ", "-", ".", ""]))
    if draw(st.booleans()):
        groups[0] = f"({groups[0]})"
    number = draw(st.sampled_from(["", "+"])) + separator.join(groups)
    assume(number[-1].isdigit() and (number.lstrip("+(")[:1]).isdigit())
    return draw(PAD) + number + draw(PAD), number


@st.composite
def typed_references(draw: st.DrawFn) -> tuple[str, str]:
    """(What the customer typed, the reference): any case, padded, maybe full width."""
    digits = draw(st.from_regex(r"[0-9]{5,9}", fullmatch=True))
    typed = draw(st.sampled_from(["BD-", "bd-", "Bd-", "bD-"])) + digits
    if draw(st.booleans()):
        typed = typed.translate(FULL_WIDTH)
    return draw(PAD) + typed + draw(PAD), f"BD-{digits}"


CHANNEL_WORDS = {
    "email": ["email", "e-mail", "mail", "inbox"],
    "phone": ["phone", "call", "ring", "telephone", "mobile", "cell"],
    "chat": ["chat", "here", "this chat", "message", "online"],
}
TYPED_CHANNELS = st.tuples(
    st.sampled_from([(channel, word) for channel, words in CHANNEL_WORDS.items() for word in words]),
    st.sampled_from(["{}", "by {} please", "{} is best", "I prefer {}", "  {}!\n"]),
    st.sampled_from([str.lower, str.upper, str.title]),
).map(lambda drawn: (drawn[2](drawn[1].format(drawn[0][1])), drawn[0][0]))

# --- calling validators the way the SDK does -------------------------------------------------


def call(
    validator: Callable[..., Any], value: Any, tracker: Tracker
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run one ``validate_<slot>`` method (sync or async, as the SDK allows); its dict and messages."""
    dispatcher = CollectingDispatcher()
    result = validator(value, dispatcher, tracker, DOMAIN)
    if inspect.isawaitable(result):
        result = asyncio.run(result)
    assert isinstance(result, dict)
    json.dumps(result)  # the action server sends it back as JSON
    return result, dispatcher.messages


def said(messages: list[dict[str, Any]], allowed: set[str]) -> list[str]:
    """The response names uttered; each a known response, never free text (so never a traceback)."""
    for message in messages:
        assert message.get("text") is None, message
        assert message.get("response") in allowed, message
    return [message["response"] for message in messages]


def last_failure_id(db_url: str) -> int:
    """The newest failed-ownership-check row, so one example's additions can be told apart."""
    with db.session_scope(db_url) as session:
        return session.scalar(select(func.max(AccessFailure.id))) or 0


def drop_failures_after(db_url: str, since_id: int) -> int:
    """Remove failed-check rows added after ``since_id`` (each example starts clean); how many."""
    with db.session_scope(db_url) as session:
        return session.execute(delete(AccessFailure).where(AccessFailure.id > since_id)).rowcount


def phone_shaped(value: str) -> bool:
    """A normalized phone number: trimmed, only phone characters, 7–15 ASCII digits."""
    digits = sum(ch.isascii() and ch.isdigit() for ch in value)
    return value == value.strip() and set(value) <= PHONE_CHARS and 7 <= digits <= 15


# --- order_verification_form -------------------------------------------------------------------

VERIFY_SLOTS = {"order_id", "email", "verified_order", "customer_email", "proven_at", "verification_failures",
                "verification_locked_at", "requested_slot"}
VERIFY_SAYS = {
    "utter_invalid_order_id", "utter_invalid_email", "utter_verification_failed", "utter_verification_locked",
    "utter_store_unavailable", "utter_verified", "utter_verified_named", "utter_verified_returning",
}
CHECK_FAILED = {"utter_verification_failed", "utter_verification_locked", "utter_store_unavailable"}
PARTNER_EMAILS = st.one_of(st.none(), st.sampled_from(["dana@example.com", "sam@example.com", "x@example.com"]),
                           ANY_VALUE)
PARTNER_ORDERS = st.one_of(st.none(), st.sampled_from(["10042", "10031", "10061", "99999"]), ANY_VALUE)


def check_verification(result: dict[str, Any], spoken: list[str], slot: str, rejected_as: str) -> None:
    """What any answer of the verification form must look like, whichever slot was validated."""
    assert set(result) <= VERIFY_SLOTS and slot in result
    assert len(spoken) <= 1
    if result.get("verified_order") is not None:
        # Verified: both halves normalized, the proven address kept, at most a greeting said.
        assert ORDER_NUMBER.fullmatch(result["verified_order"]) and result["order_id"] == result["verified_order"]
        assert VALID_EMAIL.fullmatch(result["email"]) and result["customer_email"] == result["email"]
        assert abs(result["proven_at"] - time.time()) < 60  # the proof's time, for its expiry
        assert set(spoken) <= {"utter_verified", "utter_verified_named", "utter_verified_returning"}
    elif result[slot] is None:
        # Rejected: exactly one message saying why.
        assert spoken == [rejected_as] or (len(spoken) == 1 and spoken[0] in CHECK_FAILED), spoken
    else:
        # Accepted, its partner not known yet: nothing said.
        assert spoken == []
    if result.get("order_id") is not None:
        assert ORDER_NUMBER.fullmatch(result["order_id"])
    if result.get("email") is not None:
        assert VALID_EMAIL.fullmatch(result["email"])
    if "verification_failures" in result:
        assert result["verified_order"] is None and result["order_id"] is None and result["email"] is None
        assert result["verification_failures"] >= 1


@FAST
@given(value=ANY_VALUE, email=PARTNER_EMAILS)
def test_order_id_validator_takes_any_value(store: str, value: Any, email: Any) -> None:
    """validate_order_id: an order number in its 5–8 digit form or None with one message; only a
    failed ownership check writes anything (its counter); the number validates to itself."""
    form = ValidateOrderVerificationForm()
    before, failures = store_checksum(store), last_failure_id(store)
    result, messages = call(form.validate_order_id, value, make_tracker(slots={"email": email}))
    spoken = said(messages, VERIFY_SAYS)
    recorded = drop_failures_after(store, failures)
    assert store_checksum(store) == before
    assert not recorded or "verification_failures" in result
    check_verification(result, spoken, "order_id", "utter_invalid_order_id")
    typed_digits = "".join(ch for ch in unicodedata.normalize("NFKC", str(value)) if ch in "0123456789")
    if result["order_id"] is not None:
        assert result["order_id"] == typed_digits  # the number the customer typed, nothing else
        assert call(form.validate_order_id, result["order_id"], make_tracker()) == ({"order_id": result["order_id"]},
                                                                                    [])
    if spoken == ["utter_invalid_order_id"]:
        assert result == {"order_id": None}


@FAST
@given(value=ANY_VALUE, order_id=PARTNER_ORDERS)
@example(value=".dana@example.com", order_id="10042")  # was accepted: leading dot
@example(value="dana..reyes@example.com", order_id=None)  # was accepted: doubled dot
@example(value="dana@-example-.com", order_id=None)  # was accepted: label with edge hyphens
def test_verification_email_validator_takes_any_value(store: str, value: Any, order_id: Any) -> None:
    """validate_email (orders): a valid lower-case address or None with one message; only a failed
    ownership check writes anything; the address validates to itself."""
    form = ValidateOrderVerificationForm()
    before, failures = store_checksum(store), last_failure_id(store)
    result, messages = call(form.validate_email, value, make_tracker(slots={"order_id": order_id}))
    spoken = said(messages, VERIFY_SAYS)
    recorded = drop_failures_after(store, failures)
    assert store_checksum(store) == before
    assert not recorded or "verification_failures" in result
    check_verification(result, spoken, "email", "utter_invalid_email")
    if result["email"] is not None:
        assert result["email"] == str(value).strip().lower()
        assert call(form.validate_email, result["email"], make_tracker()) == ({"email": result["email"]}, [])
    if spoken == ["utter_invalid_email"]:
        assert result == {"email": None}


@FAST
@given(typed=typed_order_numbers(), other=st.one_of(st.none(), st.text(max_size=20)))
def test_well_formed_order_numbers_are_accepted_normalized(store: str, typed: tuple[str, str], other: Any) -> None:
    """Any 5–8 digit number, however typed ('#', padding, full width), is kept as its digits, with
    nothing said and nothing written while the e-mail is not known; normalizing is idempotent."""
    text, digits = typed
    assume(other is None or not VALID_EMAIL.fullmatch(other.strip().lower()))
    form = ValidateOrderVerificationForm()
    before = store_checksum(store)
    assert call(form.validate_order_id, text, make_tracker(slots={"email": other})) == ({"order_id": digits}, [])
    assert call(form.validate_order_id, digits, make_tracker()) == ({"order_id": digits}, [])
    assert store_checksum(store) == before


@FAST
@given(typed=typed_emails())
def test_well_formed_emails_are_accepted_normalized(store: str, typed: tuple[str, str]) -> None:
    """Any well-formed address, in any case and padded, is kept trimmed and lower-cased by both
    forms that ask for one, with nothing said; normalizing is idempotent."""
    text, address = typed
    assert VALID_EMAIL.fullmatch(address)
    before = store_checksum(store)
    for form in (ValidateOrderVerificationForm(), ValidateTicketForm()):
        assert call(form.validate_email, text, make_tracker()) == ({"email": address}, [])
        assert call(form.validate_email, address, make_tracker()) == ({"email": address}, [])
    assert store_checksum(store) == before


@QUICK
@given(
    number=st.sampled_from(["10042", "#10042", " 10042 ", "１００４２"]),
    email=st.sampled_from(["dana@example.com", "DANA@example.com", " Dana@Example.COM\n"]),
    first=st.sampled_from(["order_id", "email"]),
)
def test_the_owner_is_verified_however_the_pair_is_typed(store: str, number: str, email: str, first: str) -> None:
    """Dana's order and address, in any order and any typing, verify her and greet her once; the
    store is not changed by a successful check."""
    form = ValidateOrderVerificationForm()
    before = store_checksum(store)
    if first == "order_id":
        result, messages = call(form.validate_email, email, make_tracker(slots={"order_id": number}))
    else:
        result, messages = call(form.validate_order_id, number, make_tracker(slots={"email": email}))
    assert result.pop("proven_at") <= time.time()
    assert result == {"order_id": "10042", "email": "dana@example.com", "verified_order": "10042",
                      "customer_email": "dana@example.com"}
    assert said(messages, VERIFY_SAYS) == ["utter_verified_returning"]
    assert store_checksum(store) == before


# --- handoff_form and notify_form (same validators, own required slots) -------------------------

CONTACT_FORMS = [ValidateHandoffForm, ValidateNotifyForm]
CONTACT_SAYS = {"utter_invalid_contact_channel", "utter_invalid_email", "utter_invalid_phone"}


@pytest.mark.parametrize("form_class", CONTACT_FORMS)
@FAST
@given(value=ANY_VALUE, known=st.one_of(st.none(), st.just("dana@example.com")))
def test_contact_channel_validator_takes_any_value(
    form_class: type[FormValidationAction], value: Any, known: str | None
) -> None:
    """validate_contact_channel: email, phone or chat (chat clears the detail; email reuses a proven
    address; the notify form refuses chat, saying why) or None with one message; the channel
    validates to itself."""
    form = form_class()
    refuses_chat = form_class is ValidateNotifyForm
    tracker = make_tracker(slots={"customer_email": known, "proven_at": time.time() if known else None})
    result, messages = call(form.validate_contact_channel, value, tracker)
    spoken = said(messages, CONTACT_SAYS | {"utter_notify_needs_email_or_phone"})
    assert set(result) <= {"contact_channel", "contact_detail"} and "contact_channel" in result
    channel = result["contact_channel"]
    if channel is None:
        assert result == {"contact_channel": None}
        assert spoken == ["utter_invalid_contact_channel"] or (
            refuses_chat and spoken == ["utter_notify_needs_email_or_phone"]
        )
        return
    assert channel in (CHANNELS - {"chat"} if refuses_chat else CHANNELS) and spoken == []
    if channel == "chat":
        assert result == {"contact_channel": "chat", "contact_detail": None}
    elif channel == "email" and known:
        assert result == {"contact_channel": "email", "contact_detail": known}
    else:
        assert result == {"contact_channel": channel}
    again, _ = call(form.validate_contact_channel, channel, tracker)
    assert again == result


@pytest.mark.parametrize("form_class", CONTACT_FORMS)
@FAST
@given(typed=TYPED_CHANNELS)
def test_contact_channel_words_are_understood(form_class: type[FormValidationAction], typed: tuple[str, str]) -> None:
    """Every way of naming a channel the validator knows, in any case, gives that channel (for a
    back-in-stock notice, chat is refused with its one explanation)."""
    text, channel = typed
    result, messages = call(form_class().validate_contact_channel, text, make_tracker())
    if form_class is ValidateNotifyForm and channel == "chat":
        assert result == {"contact_channel": None}
        assert said(messages, {"utter_notify_needs_email_or_phone"}) == ["utter_notify_needs_email_or_phone"]
    else:
        assert result["contact_channel"] == channel and messages == []


@pytest.mark.parametrize("form_class", CONTACT_FORMS)
@FAST
@given(value=ANY_VALUE, channel=st.one_of(st.sampled_from(["email", "phone", "chat"]), ANY_VALUE))
def test_contact_detail_validator_takes_any_value(
    form_class: type[FormValidationAction], value: Any, channel: Any
) -> None:
    """validate_contact_detail: for the email channel a valid lower-case address, otherwise a
    normalized phone number, or None with the matching message; the detail validates to itself."""
    form = form_class()
    tracker = make_tracker(slots={"contact_channel": channel})
    result, messages = call(form.validate_contact_detail, value, tracker)
    spoken = said(messages, CONTACT_SAYS)
    assert set(result) == {"contact_detail"}
    detail = result["contact_detail"]
    wants_email = channel == "email"
    if detail is None:
        assert spoken == ["utter_invalid_email" if wants_email else "utter_invalid_phone"]
        return
    assert spoken == []
    if wants_email:
        assert VALID_EMAIL.fullmatch(detail) and detail == str(value).strip().lower()
    else:
        assert phone_shaped(detail)
    assert call(form.validate_contact_detail, detail, tracker) == (result, [])


@pytest.mark.parametrize("form_class", CONTACT_FORMS)
@FAST
@given(phone=typed_phones(), email=typed_emails())
def test_well_formed_contact_details_are_accepted_normalized(
    form_class: type[FormValidationAction], phone: tuple[str, str], email: tuple[str, str]
) -> None:
    """A usual phone number is kept trimmed as typed; an address trimmed and lower-cased; both
    idempotent, nothing said."""
    form = form_class()
    for channel, (typed, normalized) in (("phone", phone), ("email", email)):
        tracker = make_tracker(slots={"contact_channel": channel})
        assert call(form.validate_contact_detail, typed, tracker) == ({"contact_detail": normalized}, [])
        assert call(form.validate_contact_detail, normalized, tracker) == ({"contact_detail": normalized}, [])


@pytest.mark.parametrize("form_class", CONTACT_FORMS)
@QUICK
@given(channel=ANY_VALUE, known=st.one_of(st.none(), st.sampled_from(["dana@example.com", "sam@example.com"]),
                                          st.text(max_size=40)))
def test_contact_forms_ask_only_for_their_own_slots(
    store: str, form_class: type[FormValidationAction], channel: Any, known: str | None
) -> None:
    """required_slots (reads the stored contact preference): never raises, asks only for the
    form's slots, says nothing (the SDK calls it several times a turn) and writes nothing."""
    domain_slots = ["contact_channel", "contact_detail"]
    before = store_checksum(store)
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(slots={"contact_channel": channel, "customer_email": known, "proven_at": time.time()})
    slots = asyncio.run(form_class().required_slots(domain_slots, dispatcher, tracker, DOMAIN))
    assert set(slots) <= set(domain_slots)
    assert dispatcher.messages == []
    assert store_checksum(store) == before


# --- ticket_form ---------------------------------------------------------------------------------


@FAST
@given(value=ANY_VALUE)
@example(value="BD-١٠٤٢٧")  # was accepted as "BD-١٠٤٢٧": other scripts' digits, matching no ticket
def test_ticket_ref_validator_takes_any_value(value: Any) -> None:
    """validate_ticket_ref: BD- and 5–9 ASCII digits, or None with one message; idempotent."""
    form = ValidateTicketForm()
    result, messages = call(form.validate_ticket_ref, value, make_tracker())
    spoken = said(messages, {"utter_invalid_ticket_ref"})
    assert set(result) == {"ticket_ref"}
    reference = result["ticket_ref"]
    if reference is None:
        assert spoken == ["utter_invalid_ticket_ref"]
        return
    assert TICKET_REF.fullmatch(reference) and spoken == []
    assert call(form.validate_ticket_ref, reference, make_tracker()) == (result, [])


@FAST
@given(typed=typed_references())
def test_well_formed_ticket_refs_are_accepted_normalized(typed: tuple[str, str]) -> None:
    """A reference in any case, padded or in full-width characters, reads as BD-<digits>."""
    text, reference = typed
    assert call(ValidateTicketForm().validate_ticket_ref, text, make_tracker()) == ({"ticket_ref": reference}, [])


@FAST
@given(value=ANY_VALUE)
def test_ticket_email_validator_takes_any_value(value: Any) -> None:
    """validate_email (tickets): a valid lower-case address or None with one message; idempotent."""
    form = ValidateTicketForm()
    result, messages = call(form.validate_email, value, make_tracker())
    spoken = said(messages, {"utter_invalid_email"})
    assert set(result) == {"email"}
    if result["email"] is None:
        assert spoken == ["utter_invalid_email"]
        return
    assert VALID_EMAIL.fullmatch(result["email"]) and result["email"] == str(value).strip().lower()
    assert spoken == [] and call(form.validate_email, result["email"], make_tracker()) == (result, [])


# --- the SDK's own path: FormValidationAction.run with the slots the form just filled -----------

FORM_SLOTS = [
    (ValidateOrderVerificationForm, ["order_id", "email"], VERIFY_SLOTS, VERIFY_SAYS),
    (ValidateHandoffForm, ["contact_channel", "contact_detail"], {"contact_channel", "contact_detail"}, CONTACT_SAYS),
    (ValidateNotifyForm, ["contact_channel", "contact_detail"], {"contact_channel", "contact_detail"},
     CONTACT_SAYS | {"utter_notify_needs_email_or_phone"}),
    (ValidateTicketForm, ["ticket_ref", "email"], {"ticket_ref", "email"},
     {"utter_invalid_ticket_ref", "utter_invalid_email"}),
]


@pytest.mark.parametrize(("form_class", "form_slots", "owned", "allowed"), FORM_SLOTS)
@QUICK
@given(first=ANY_VALUE, second=ANY_VALUE, both=st.booleans())
def test_form_run_with_any_filled_slots(
    store: str,
    form_class: type[FormValidationAction],
    form_slots: list[str],
    owned: set[str],
    allowed: set[str],
    first: Any,
    second: Any,
    both: bool,
) -> None:
    """Through the SDK's run(): slots filled with anything come back as SlotSet events for the form's
    own slots only, with at most one message per slot validated, and the store unchanged but for a
    failed check's counter."""
    filled = {form_slots[0]: first, **({form_slots[1]: second} if both else {})}
    tracker = make_tracker(
        slots=dict(filled),
        intent="inform",
        events=[{"event": "slot", "name": name, "value": value} for name, value in filled.items()],
    )
    before, failures = store_checksum(store), last_failure_id(store)
    dispatcher = CollectingDispatcher()
    events = asyncio.run(form_class().run(dispatcher, tracker, DOMAIN))
    recorded = drop_failures_after(store, failures)
    assert store_checksum(store) == before
    assert all(isinstance(event, dict) and event["event"] == "slot" for event in events)
    assert {event["name"] for event in events} <= owned | {"requested_slot"}
    json.dumps(events)
    spoken = said(dispatcher.messages, allowed)
    assert len(spoken) <= len(filled)  # at most one message per slot validated
    values = {event["name"]: event["value"] for event in events}
    assert not recorded or values.get("verification_failures")


# --- notify_form: a back-in-stock notice needs an email or a phone --------------------------------


@QUICK
@given(said_chat=st.one_of(st.just("chat"), TYPED_CHANNELS.filter(lambda typed: typed[1] == "chat").map(
    lambda typed: typed[0])))
def test_notify_form_refuses_chat_once_and_asks_again(said_chat: str) -> None:
    """Asked how to be told an item is back, "this chat" (button or words) is refused with one
    explanation, and the channel is asked again, so a typed address is then read as an address
    (not rejected as a phone number, as it was when "chat" stayed in the slot)."""
    tracker = make_tracker(slots={"contact_channel": said_chat}, intent="contact_preference",
                           events=[{"event": "slot", "name": "contact_channel", "value": said_chat}])
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ValidateNotifyForm().run(dispatcher, tracker, DOMAIN))
    assert events == [{"event": "slot", "timestamp": None, "name": "contact_channel", "value": None}]
    assert said(dispatcher.messages, {"utter_notify_needs_email_or_phone"}) == ["utter_notify_needs_email_or_phone"]


@pytest.mark.parametrize(("stored", "asks"), [("chat", True), ("email", False), ("phone", False)])
def test_notify_form_uses_a_stored_preference_only_if_a_notice_can_reach_it(
    store: str, stored: str, asks: bool
) -> None:
    """A stored email or phone preference skips the questions; a stored "chat" preference cannot
    carry a notice after the customer has left, so the questions are asked (the handoff form still
    honours it)."""
    with db.session_scope(store) as session:
        customer = session.scalars(select(Customer).where(Customer.email == "dana@example.com")).one()
        customer.preferred_contact = stored
    tracker = make_tracker(slots={"customer_email": "dana@example.com", "proven_at": time.time()})
    domain_slots = ["contact_channel", "contact_detail"]
    notify = asyncio.run(ValidateNotifyForm().required_slots(domain_slots, CollectingDispatcher(), tracker, DOMAIN))
    handoff = asyncio.run(ValidateHandoffForm().required_slots(domain_slots, CollectingDispatcher(), tracker, DOMAIN))
    assert notify == (domain_slots if asks else [])
    assert handoff == []
