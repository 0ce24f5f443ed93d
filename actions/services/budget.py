"""Budget phrases → a typed price range the search can use, or the question to ask instead.

Rules :func:`parse_budget` keeps:
- it never raises: any text (or ``None``) gives a :class:`Budget`;
- amounts are integer cents; "$1,500", "1.5k", "2k", "2 grand", "1500 dollars" are understood;
- "under/below/less than X" excludes X itself; "max/up to/at most/no more than/budget X" and a
  bare amount include it; "over/above/more than X" excludes X, "at least/from X" includes it;
- "around/about/roughly X" (or "X-ish") means X ± 20 %;
- "between X and Y", "X to Y", "X-Y" is a range (either order);
- a vague budget ("cheap", "affordable", "not too expensive") is **ambiguous**: the assistant asks
  for a number instead of guessing what cheap means to this customer;
- zero or negative amounts ("$-5") are **invalid**: ask again;
- amounts above :data:`MAX_PLAUSIBLE_CENTS` ($100,000; "a million") are **implausible**. Our
  choice: ask (with the question in ``question``) rather than silently dropping the limit,
  because such a figure is usually a joke or a typo; the caller may still search without a limit
  meanwhile, since ``min_cents``/``max_cents`` are None;
- a bare number with no currency sign or budget word ("Nimbus 14") is not a budget, unless it
  is the whole text (the answer to "what's your budget?").
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

MAX_TEXT_LENGTH = 300
MAX_PLAUSIBLE_CENTS = 100_000 * 100
AROUND_TOLERANCE = Decimal("0.20")

QUESTION_AMOUNT = "What's the most you'd like to spend? A number is fine, for example \"under $500\"."
QUESTION_POSITIVE = "That budget doesn't look right to me. What's the most you'd like to spend, in dollars?"
QUESTION_IMPLAUSIBLE = (
    "Just to check: is that really your budget? Tell me the most you'd like to spend, "
    "or say \"no limit\" and I'll show everything."
)


class BudgetKind(str, enum.Enum):
    none = "none"  # no budget in the text
    max = "max"  # up to max_cents
    min = "min"  # from min_cents
    range = "range"  # min_cents..max_cents
    around = "around"  # min_cents..max_cents, centred on the amount said
    no_limit = "no_limit"  # "no limit", "money is no object"
    ambiguous = "ambiguous"  # "cheap": ask for a number
    invalid = "invalid"  # zero or negative: ask again
    implausible = "implausible"  # "a million": ask to confirm


@dataclass(frozen=True)
class Budget:
    """What a budget phrase means. Bounds are inclusive, in cents; None means unbounded."""

    kind: BudgetKind
    min_cents: int | None = None
    max_cents: int | None = None
    question: str | None = None  # set when the assistant should ask instead of searching
    phrase: str = ""  # the part of the text that was understood

    @property
    def usable(self) -> bool:
        """True when the bounds can go straight into a search."""
        return self.kind in {BudgetKind.max, BudgetKind.min, BudgetKind.range, BudgetKind.around, BudgetKind.no_limit}

    @property
    def needs_question(self) -> bool:
        return self.question is not None


_MULTIPLIERS = {
    "k": 1_000,
    "thousand": 1_000,
    "grand": 1_000,
    "m": 1_000_000,
    "mil": 1_000_000,
    "mill": 1_000_000,
    "million": 1_000_000,
    "mn": 1_000_000,
    "bn": 1_000_000_000,
    "billion": 1_000_000_000,
}
_WORD_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "five": 5, "ten": 10, "a few": 3}

# One amount: optional minus, optional $, digits (with thousands commas) or a number word,
# optional decimals, optional multiplier, optional currency word. Captures are named.
_AMOUNT = (
    r"(?P<{p}neg>(?<![\w.,])-\s*|minus\s+)?"
    r"(?P<{p}cur>\$|usd\s*|us\$)?\s*(?P<{p}neg2>-\s*)?"
    # A number starts only where a run of digits starts, and its parts are bounded, so a long run
    # of digits costs linear time, not cubic (tests/test_regex_bounds.py).
    r"(?:(?P<{p}num>(?<![\d,])(?:\d{{1,3}}(?:,\d{{3}}){{1,4}}|\d{{1,40}})(?![\d,]\d))(?:\.(?P<{p}frac>\d{{1,6}}))?"
    r"|(?P<{p}word>a few|an?|one|two|three|five|ten)"
    r"(?=\s+(?:thousand|grand|million|mil|mill|billion)\b))"
    # The amount must end at a word boundary ("2kg" is a weight), except before "ish" ("1500ish").
    r"\s*(?P<{p}mult>k|thousand|grand|million|mill|mil|mn|m|billion|bn)?(?:\b|(?=ish\b))"
    r"(?:\s*(?P<{p}cur2>dollars?|bucks|usd|\$))?"
)


def _amount(prefix: str) -> str:
    return _AMOUNT.format(p=prefix)


_RANGE = re.compile(
    r"(?:between|from)?\s*" + _amount("a") + r"\s*(?:-|–|to|and|until)\s*" + _amount("b"),
    re.IGNORECASE,
)
_BETWEEN = re.compile(r"\bbetween\s+" + _amount("a") + r"\s*(?:and|&|-|–|to)\s*" + _amount("b"), re.IGNORECASE)
_AROUND_BEFORE = re.compile(
    r"(?:\baround|\babout|\broughly|\bapprox(?:imately|\.)?|\bcirca|\bca\.|~|\bin the region of|\bclose to)\s*"
    + _amount("a"),
    re.IGNORECASE,
)
_AROUND_AFTER = re.compile(_amount("a") + r"\s*(?:-?ish\b|or so\b)", re.IGNORECASE)
_UNDER = re.compile(
    r"(?:\bunder|\bbelow|\bless than|\bcheaper than|\blower than|\bbeneath|<(?!=))\s*" + _amount("a"), re.IGNORECASE
)
_AT_MOST_BEFORE = re.compile(
    r"(?:\bmax(?:imum)?\.?|\bat most|\bup to|\bno more than|\bnot more than|\bnothing over|"
    r"\bbudget(?:\s+(?:is|of|around|about))?(?:\s*:)?|\bspend(?:ing)?|\bafford|\btops|<=|≤)\s*" + _amount("a"),
    re.IGNORECASE,
)
_AT_MOST_AFTER = re.compile(
    _amount("a") + r"\s*(?:max(?:imum)?\b|tops\b|or less\b|or under\b|at most\b)", re.IGNORECASE
)
_OVER = re.compile(r"(?:\bover|\babove|\bmore than|>(?!=))\s*" + _amount("a"), re.IGNORECASE)
_AT_LEAST = re.compile(
    r"(?:\bat least|\bmin(?:imum)?\.?|\bstarting (?:at|from)|\bfrom|>=|≥)\s*" + _amount("a"), re.IGNORECASE
)
_AT_LEAST_AFTER = re.compile(_amount("a") + r"\s*(?:or more\b|and up\b|plus\b|\+)", re.IGNORECASE)
_ANY_AMOUNT = re.compile(_amount("a"), re.IGNORECASE)
_NO_LIMIT = re.compile(
    r"\b(no (?:limit|budget|max(?:imum)?)|unlimited|money is no object|price doesn'?t matter|any price|"
    r"whatever it costs|don'?t care (?:about|what it costs)|sky'?s the limit)\b",
    re.IGNORECASE,
)
_VAGUE = re.compile(
    r"\b(cheap(?:er|est)?|inexpensive|affordable|budget[- ]friendly|low[- ]cost|low[- ]budget|on a budget|"
    r"not (?:too|very|that|so) (?:expensive|pricey|much)|tight budget|bargain|economical|"
    r"reasonabl[ey](?: priced)?|modest|pricey|expensive|premium|high[- ]end|top of the line)\b",
    re.IGNORECASE,
)
_MONEY_WORD = re.compile(r"\$|\b(dollars?|bucks|usd|budget|spend|price|cost)\b", re.IGNORECASE)


class _Unusable(Exception):
    """An amount that exists but cannot be a budget (zero, negative, or absurd)."""

    def __init__(self, kind: BudgetKind) -> None:
        super().__init__(kind.value)
        self.kind = kind


def _cents(match: re.Match[str], prefix: str) -> int:
    """The amount captured under ``prefix`` in cents; raises _Unusable for ≤ 0 or absurd ones."""
    group = match.groupdict()
    number = group.get(f"{prefix}num")
    word = group.get(f"{prefix}word")
    multiplier = _MULTIPLIERS.get((group.get(f"{prefix}mult") or "").lower(), 1)
    if number is None:
        if word is None:
            raise _Unusable(BudgetKind.invalid)
        value = Decimal(_WORD_NUMBERS.get(word.lower(), 1))
    else:
        digits = number.replace(",", "")
        fraction = group.get(f"{prefix}frac") or ""
        # Beyond 12 digits nothing is a plausible budget; don't build giant numbers from junk.
        if len(digits) > 12:
            raise _Unusable(BudgetKind.implausible)
        try:
            value = Decimal(f"{digits}.{fraction[:6] or '0'}")
        except InvalidOperation as exc:  # pragma: no cover - the regex only admits digits
            raise _Unusable(BudgetKind.invalid) from exc
    cents = int((value * multiplier * 100).to_integral_value())
    if group.get(f"{prefix}neg") or group.get(f"{prefix}neg2"):
        raise _Unusable(BudgetKind.invalid)
    if cents <= 0:
        raise _Unusable(BudgetKind.invalid)
    if cents > MAX_PLAUSIBLE_CENTS:
        raise _Unusable(BudgetKind.implausible)
    return cents


def _asking(kind: BudgetKind, phrase: str) -> Budget:
    question = {
        BudgetKind.invalid: QUESTION_POSITIVE,
        BudgetKind.implausible: QUESTION_IMPLAUSIBLE,
    }.get(kind, QUESTION_AMOUNT)
    return Budget(kind=kind, question=question, phrase=phrase)


def _looks_like_money(match: re.Match[str], text: str) -> bool:
    group = match.groupdict()
    if group.get("acur") or group.get("acur2") or group.get("amult"):
        return True
    # The whole message is just the number ("500", "-5"): an answer to "what's your budget?".
    return match.group(0).strip() == text.strip()


def parse_budget(text: str | None) -> Budget:
    """Read a budget out of ``text``; see the module docstring for every rule."""
    try:
        return _parse(text)
    except Exception:  # pragma: no cover - a safety net; the parser is written not to raise
        return Budget(kind=BudgetKind.none)


def _parse(text: str | None) -> Budget:
    if not text or not isinstance(text, str):
        return Budget(kind=BudgetKind.none)
    cleaned = " ".join(text[:MAX_TEXT_LENGTH].split())
    if not cleaned:
        return Budget(kind=BudgetKind.none)
    unlimited = _NO_LIMIT.search(cleaned)
    if unlimited:
        return Budget(kind=BudgetKind.no_limit, phrase=unlimited.group(0))

    try:
        found = _BETWEEN.search(cleaned)
        if found:
            return _range(found)
        found = _AROUND_BEFORE.search(cleaned) or _AROUND_AFTER.search(cleaned)
        if found:
            cents = _cents(found, "a")
            spread = int(Decimal(cents) * AROUND_TOLERANCE)
            return Budget(BudgetKind.around, cents - spread, cents + spread, phrase=found.group(0).strip())
        found = _UNDER.search(cleaned)
        if found:
            cents = _cents(found, "a")
            # "Under $50" does not include $50 itself.
            return Budget(BudgetKind.max, None, max(cents - 1, 0), phrase=found.group(0).strip())
        found = _AT_MOST_BEFORE.search(cleaned) or _AT_MOST_AFTER.search(cleaned)
        if found:
            return Budget(BudgetKind.max, None, _cents(found, "a"), phrase=found.group(0).strip())
        found = _OVER.search(cleaned)
        if found:
            return Budget(BudgetKind.min, _cents(found, "a") + 1, None, phrase=found.group(0).strip())
        found = _AT_LEAST_AFTER.search(cleaned)
        if found and (_looks_like_money(found, cleaned) or _MONEY_WORD.search(cleaned)):
            return Budget(BudgetKind.min, _cents(found, "a"), None, phrase=found.group(0).strip())
        found = _RANGE.search(cleaned)
        if found and (_looks_like_money(found, cleaned) or _range_is_money(found)):
            return _range(found)
        found = _AT_LEAST.search(cleaned)
        if found and (_looks_like_money(found, cleaned) or _MONEY_WORD.search(cleaned)):
            return Budget(BudgetKind.min, _cents(found, "a"), None, phrase=found.group(0).strip())
        for found in _ANY_AMOUNT.finditer(cleaned):
            if _looks_like_money(found, cleaned):
                return Budget(BudgetKind.max, None, _cents(found, "a"), phrase=found.group(0).strip())
    except _Unusable as unusable:
        return _asking(unusable.kind, cleaned)

    vague = _VAGUE.search(cleaned)
    if vague:
        return _asking(BudgetKind.ambiguous, vague.group(0))
    return Budget(kind=BudgetKind.none)


def _range_is_money(match: re.Match[str]) -> bool:
    # "from 300 to 600" and "$300-600" are budgets; "Vista 24-27" is not.
    group = match.groupdict()
    if match.group(0).strip().lower().startswith(("from", "between")):
        return True
    return any(group.get(k) for k in ("acur", "acur2", "amult", "bcur", "bcur2", "bmult"))


def _range(found: re.Match[str]) -> Budget:
    group = found.groupdict()
    # "1-2k" means 1,000–2,000: a multiplier written once applies to both ends.
    low_text_has_mult = bool(group.get("amult"))
    low = _cents(found, "a")
    high = _cents(found, "b")
    if not low_text_has_mult and group.get("bmult") and group.get("anum") and low < 100 * 100:
        scaled = low * _MULTIPLIERS[group["bmult"].lower()]
        if scaled <= high:
            low = scaled
    low, high = min(low, high), max(low, high)
    return Budget(BudgetKind.range, low, high, phrase=found.group(0).strip())
