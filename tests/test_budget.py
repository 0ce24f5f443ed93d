"""Budget phrases: typed bounds in cents, or the specific question to ask instead; never an exception."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actions.services.budget import (
    MAX_PLAUSIBLE_CENTS,
    QUESTION_AMOUNT,
    QUESTION_IMPLAUSIBLE,
    QUESTION_POSITIVE,
    Budget,
    BudgetKind,
    parse_budget,
)
from actions.services.search import search_products
from actions.store import db

K = BudgetKind


@pytest.mark.parametrize(
    ("text", "kind", "low", "high"),
    [
        # The phrases the issue names.
        ("under 2000", K.max, None, 199_999),
        ("below $1,500", K.max, None, 149_999),
        ("less than 1k", K.max, None, 99_999),
        ("around 500", K.around, 40_000, 60_000),
        ("between 300 and 600", K.range, 30_000, 60_000),
        ("max 250", K.max, None, 25_000),
        ("2k", K.max, None, 200_000),
        ("1.5k", K.max, None, 150_000),
        # More ways people say it.
        ("under $50", K.max, None, 4_999),
        ("up to 99.99", K.max, None, 9_999),
        ("no more than $300", K.max, None, 30_000),
        ("300 max", K.max, None, 30_000),
        ("my budget is 800", K.max, None, 80_000),
        ("I can spend $1200", K.max, None, 120_000),
        ("800 dollars", K.max, None, 80_000),
        ("$500", K.max, None, 50_000),
        ("500", K.max, None, 50_000),
        ("2 grand", K.max, None, 200_000),
        ("about 1.2k", K.around, 96_000, 144_000),
        ("1500ish", K.around, 120_000, 180_000),
        ("roughly $80", K.around, 6_400, 9_600),
        ("between 600 and 300", K.range, 30_000, 60_000),
        ("from 300 to 600", K.range, 30_000, 60_000),
        ("laptops from $300 to $600", K.range, 30_000, 60_000),
        ("300-600", K.range, 30_000, 60_000),
        ("$300–600", K.range, 30_000, 60_000),
        ("1-2k", K.range, 100_000, 200_000),
        ("over 300", K.min, 30_001, None),
        ("at least $200", K.min, 20_000, None),
        ("500 or more", K.min, 50_000, None),
        ("a monitor under 400 please", K.max, None, 39_999),
        ("2 monitors under $300 each", K.max, None, 29_999),
        ("UNDER 2K", K.max, None, 199_999),
    ],
)
def test_budget_phrases(text: str, kind: BudgetKind, low: int | None, high: int | None) -> None:
    budget = parse_budget(text)
    assert (budget.kind, budget.min_cents, budget.max_cents) == (kind, low, high), budget
    assert budget.usable and budget.question is None and budget.phrase


def test_vague_budget_asks_for_a_number() -> None:
    for text in ("cheap", "something cheap", "affordable please", "not too expensive", "I'm on a budget"):
        budget = parse_budget(text)
        assert budget.kind is K.ambiguous, text
        assert budget.question == QUESTION_AMOUNT and not budget.usable
        assert (budget.min_cents, budget.max_cents) == (None, None)


@pytest.mark.parametrize("text", ["$-5", "-5", "under -5", "-$20", "minus 10 dollars", "$0", "under 0", "0"])
def test_zero_or_negative_is_invalid_and_asks_again(text: str) -> None:
    budget = parse_budget(text)
    assert budget.kind is K.invalid, budget
    assert budget.question == QUESTION_POSITIVE and not budget.usable


@pytest.mark.parametrize("text", ["a million", "a million dollars", "under 1,000,000", "2m", "$5 billion", "9" * 40])
def test_absurd_amounts_are_implausible_and_asked_about(text: str) -> None:
    budget = parse_budget(text)
    assert budget.kind is K.implausible, budget
    # Our documented choice: ask, with no bounds (a caller may search unlimited meanwhile).
    assert budget.question == QUESTION_IMPLAUSIBLE
    assert (budget.min_cents, budget.max_cents) == (None, None)


def test_the_plausibility_limit_itself() -> None:
    assert parse_budget("$100,000").max_cents == MAX_PLAUSIBLE_CENTS
    assert parse_budget("$100,001").kind is K.implausible


def test_no_limit() -> None:
    budget = parse_budget("money is no object")
    assert budget.kind is K.no_limit and budget.usable
    assert (budget.min_cents, budget.max_cents) == (None, None)


@pytest.mark.parametrize(
    "text",
    [None, "", "   ", "hello", "Nimbus 14 laptop", "Vista 24-27", "under 2kg", "a 27 inch monitor", "1e9", "🙂"],
)
def test_no_budget_in_the_text(text: str | None) -> None:
    assert parse_budget(text) == Budget(kind=K.none)


def test_budget_feeds_the_search(store: str) -> None:
    budget = parse_budget("laptops under 1k")
    with db.session_scope(store) as session:
        hits = search_products(
            session, "laptop", category="laptops", min_price_cents=budget.min_cents, max_price_cents=budget.max_cents
        )
    assert [h.sku for h in hits] and all(h.price_cents < 100_000 for h in hits)


AMOUNT_LIKE = st.from_regex(r"[\$\-~ ]{0,3}[0-9,.]{0,12}[kKmM]?( ?(to|-|and) ?[0-9]{0,6})?", fullmatch=True)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=400), AMOUNT_LIKE))
def test_any_text_gives_a_consistent_budget(text: str | None) -> None:
    budget = parse_budget(text)
    assert isinstance(budget, Budget) and isinstance(budget.kind, BudgetKind)
    if budget.usable:
        assert budget.question is None
        for bound in (budget.min_cents, budget.max_cents):
            assert bound is None or 0 <= bound <= MAX_PLAUSIBLE_CENTS * 2
        if budget.min_cents is not None and budget.max_cents is not None:
            assert budget.min_cents <= budget.max_cents
    elif budget.kind is not K.none:
        assert budget.question
        assert (budget.min_cents, budget.max_cents) == (None, None)


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.sampled_from(["under", "below", "less than", "max", "up to", "around", "over", "at least", ""]),
    amount=st.integers(min_value=1, max_value=100_000),
    dollar=st.booleans(),
)
def test_round_numbers_round_trip(prefix: str, amount: int, dollar: bool) -> None:
    text = f"{prefix} {'$' if dollar else ''}{amount:,}".strip()
    budget = parse_budget(text)
    assert budget.usable, text
    cents = amount * 100
    assert budget.min_cents is None or budget.min_cents <= cents + 1
    assert budget.max_cents is None or budget.max_cents >= cents - 1
