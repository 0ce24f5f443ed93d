"""Consistency between the domain, the actions and the house rules on wording."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import yaml

from actions.settings import PROJECT_ROOT

DOMAIN = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())
ACTION_FILES = sorted((PROJECT_ROOT / "actions").rglob("*.py"))

# House rule 3 (shared/DESIGN.md): stalling language the assistant must never use.
STALLING = re.compile(
    r"(call|message|chat|request|business) is (very |really )?important"
    r"|unusually high|high (call|chat|message) volume|higher than (usual|normal) volume"
    r"|(someone|somebody|we|an agent|a member of our team) will (reach out|get back|contact you|be in touch)"
    r"( to you)?( shortly| soon| as soon as possible)?"
    r"|get back to you (soon|shortly|as soon as possible)"
    r"|not (allowed|permitted|able) to (give|share|tell|disclose)"
    r"|please (hold|be patient)",
    re.IGNORECASE,
)


def _strings_in(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def _response_texts() -> list[str]:
    texts = []
    for variants in DOMAIN["responses"].values():
        for variant in variants:
            texts.append(variant.get("text", ""))
            texts.extend(b.get("title", "") for b in variant.get("buttons", []))
    return texts


def test_every_response_an_action_names_exists() -> None:
    named = set()
    for path in ACTION_FILES:
        # Prefixes of names built at run time ("utter_ack_") are checked by the test below.
        named.update(s for s in _strings_in(path) if re.fullmatch(r"utter_[a-z0-9_]*[a-z0-9]", s))
    missing = named - set(DOMAIN["responses"])
    assert not missing, f"responses used by actions but not in domain.yml: {sorted(missing)}"


def test_every_acknowledgment_the_service_can_pick_exists() -> None:
    from actions.services.feelings import FeelingRead, acknowledgment

    intents = ["order_status", "report_problem", "billing_issue", "tech_support", "complain", "check_price"]
    texts = ["it hasn't arrived", "it arrived broken", "wrong item", "charged twice", "invoice", "x"]
    picked = {
        acknowledgment(intent, text, FeelingRead(label=label))
        for intent in intents
        for text in texts
        for label in ("neutral", "mild", "strong", "extreme")
    } - {None}
    assert picked <= set(DOMAIN["responses"]), sorted(picked - set(DOMAIN["responses"]))
    assert len(picked) >= 12


def test_every_custom_action_in_the_domain_is_implemented() -> None:
    implemented = set()
    for path in ACTION_FILES:
        source = path.read_text()
        implemented.update(re.findall(r'def name\(self\) -> str:\s+return "([a-z_]+)"', source))
    declared = {a for a in DOMAIN.get("actions", []) if not a.startswith(("utter_", "validate_"))}
    assert declared <= implemented, f"declared but not implemented: {sorted(declared - implemented)}"


def test_no_stalling_language_anywhere() -> None:
    texts = _response_texts()
    for path in ACTION_FILES:
        texts.extend(_strings_in(path))
    offenders = [t for t in texts if STALLING.search(t)]
    assert not offenders, f"stalling language (house rule 3): {offenders}"


def test_the_stalling_scan_catches_the_listed_phrases() -> None:
    for phrase in [
        "Your call is important to us.",
        "We are experiencing unusually high volume.",
        "We'll get back to you soon.",
        "Someone will reach out soon.",
        "I'm not allowed to give that information.",
    ]:
        assert STALLING.search(phrase), phrase


def test_button_payloads_with_entities_escape_their_braces() -> None:
    # Rasa fills {slot} placeholders in responses, buttons included: a JSON payload written with
    # single braces is treated as a placeholder, fails, and Rasa logs the error with the slot
    # values (customer emails among them). Doubled braces render as the intended payload.
    from rasa.core.nlg.interpolator import interpolate_text

    for name, variants in DOMAIN["responses"].items():
        for variant in variants:
            for button in variant.get("buttons", []):
                payload = button["payload"]
                if "{" in payload:
                    assert payload.count("{{") == 1 and payload.count("}}") == 1, (name, payload)
                    rendered = interpolate_text(payload, {})
                    assert rendered.startswith("/") and json.loads(rendered[rendered.index("{"):]), (name, rendered)
