"""Every regex over customer text answers quickly on the longest text the input gate lets through.

The gate caps a message at ``MAX_MESSAGE_CHARS`` (tests/test_input_gate.py shows nothing longer
gets past it), so a regex that backtracks badly could still stall the event loop for everyone if
it were exponential, or badly polynomial, within that cap. This fuzz feeds every pattern that
reads customer text (the NLU regexes in data/, and module-level patterns of the feeling
component, the services and the gate itself) with adversarial strings at the cap: long runs of
the characters the patterns care about, and random mixes of them, each as the gate hands it on
(``clean_message``: whitespace runs collapsed, controls gone), because that is the only text
they ever see. The bound (0.5 s for one
search and one findall) is two orders of magnitude above what a linear pattern needs here; it
catches catastrophic backtracking, it is not a speed target.
"""

from __future__ import annotations

import importlib
import re
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from golden_rule.input_gate import MAX_MESSAGE_CHARS, Refusal, clean_message

ROOT = Path(__file__).resolve().parents[1]
MODULES = [
    "golden_rule.input_gate",
    "golden_rule.privacy",
    "components.feeling",
    "actions.services.budget",
    "actions.services.feedback",
    "actions.services.feelings",
    "actions.services.handoff",
    "actions.services.policies",
    "actions.services.search",
]
BOUND_SECONDS = 0.5
ALPHABET = "aZ9.@-_ '$+%/:,\n"


def data_patterns() -> list[re.Pattern[str]]:
    patterns = []
    for path in sorted((ROOT / "data").rglob("*.yml")):
        for item in (yaml.safe_load(path.read_text()) or {}).get("nlu") or []:
            if "regex" in item:
                for line in item["examples"].splitlines():
                    if line.strip().startswith("- "):
                        # Rasa's RegexFeaturizer/RegexEntityExtractor run them case-insensitively.
                        patterns.append(re.compile(line.strip()[2:], re.IGNORECASE))
    return patterns


def module_patterns() -> list[re.Pattern[str]]:
    patterns = []
    for name in MODULES:
        module = importlib.import_module(name)
        patterns += [value for value in vars(module).values() if isinstance(value, re.Pattern)]
        for value in vars(module).values():  # tuples/lists of patterns (e.g. ordered rules)
            if isinstance(value, tuple | list):
                for item in value:
                    candidates = item if isinstance(item, tuple) else (item,)
                    patterns += [c for c in candidates if isinstance(c, re.Pattern)]
    return patterns


PATTERNS = data_patterns() + module_patterns()


def adversarial_texts() -> list[str]:
    n = MAX_MESSAGE_CHARS
    units = ["a", "9", ".", "@", " ", "-", "a@", "a.", "9 ", "9-", "$9", "a@a.", "a.a@", "9.9", "BD-9", "a-", "'a"]
    return [(unit * n)[:n] for unit in units] + [("a" * (n // 2) + "@" + "a." * n)[:n], ("1" * (n - 1)) + "x"]


def gated(text: str) -> str:
    """``text`` as the input gate passes it to NLU and actions."""
    verdict = clean_message(text, "support@brightdesk.example")
    return "" if isinstance(verdict, Refusal) else verdict


def _run(pattern: re.Pattern[str], text: str) -> float:
    text = gated(text)
    started = time.perf_counter()
    pattern.search(text)
    pattern.findall(text)
    return time.perf_counter() - started


def test_the_patterns_are_found() -> None:
    assert len(data_patterns()) >= 3  # order_id, email, ticket_ref
    assert len(module_patterns()) >= 10


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: p.pattern[:40])
def test_no_pattern_backtracks_on_runs_at_the_cap(pattern: re.Pattern[str]) -> None:
    for text in adversarial_texts():
        elapsed = _run(pattern, text)
        assert elapsed < BOUND_SECONDS, f"{pattern.pattern!r} took {elapsed:.2f} s on {text[:20]!r}…"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=ALPHABET, min_size=MAX_MESSAGE_CHARS // 2, max_size=MAX_MESSAGE_CHARS))
def test_no_pattern_backtracks_on_random_mixes_at_the_cap(text: str) -> None:
    for pattern in PATTERNS:
        assert _run(pattern, text) < BOUND_SECONDS, pattern.pattern
