"""The input gate's rules (golden_rule/input_gate.py) and its place in front of Rasa (channels/input_gate.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from channels.input_gate import gated
from golden_rule.input_gate import (
    CUSTOMER_INTENTS,
    MAX_MESSAGE_CHARS,
    Refusal,
    check_sender,
    clean_message,
    is_customer_payload,
)

SUPPORT = "support@brightdesk.example"
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("sender", ["customer-1", "a", "U0123ABCD", "shop:42@web", "x" * 128, "0f8e.9d7c_=+"])
def test_well_formed_sender_ids_pass(sender: str) -> None:
    assert check_sender(sender) is None


@pytest.mark.parametrize(
    "sender",
    ["", " ", "x-\udfff", "a\x00b", "x" * 129, "-leading-dash", "has space", "<script>", "ünïcode", None, 42, [],
     "a/b", "a'b", "a;drop table"],
)
def test_other_sender_ids_are_refused_with_a_400(sender: object) -> None:
    refusal = check_sender(sender)
    assert refusal is not None and refusal.status == 400 and "'sender'" in refusal.detail


def test_text_is_normalised_and_invisible_controls_removed() -> None:
    assert clean_message("  hi\tthere\r\n ", SUPPORT) == "hi there"
    assert clean_message("re\u200bfund\u202e please", SUPPORT) == "refund please"
    assert clean_message("cafe\u0301", SUPPORT) == "café"  # NFC
    assert clean_message("👩\u200d💻 help", SUPPORT) == "👩\u200d💻 help"  # the joiner in emoji stays
    assert clean_message("line one\nline two", SUPPORT) == "line one\nline two"


@pytest.mark.parametrize(
    ("text", "reason", "status"),
    [
        ("hi \udfff", "malformed", 400),
        ("\ud83d alone", "malformed", 400),
        ("nul\x00byte", "malformed", 400),
        (None, "malformed", 400),
        (42, "malformed", 400),
        ({"text": "hi"}, "malformed", 400),
        ("", "empty", 400),
        (" \u200b\t\n", "empty", 400),
        ("a" * (MAX_MESSAGE_CHARS + 1), "too_long", 413),
        ("a" * 1_000_000, "too_long", 413),
    ],
)
def test_bad_text_is_refused_with_a_reason_for_integrators_and_words_for_customers(
    text: object, reason: str, status: int
) -> None:
    verdict = clean_message(text, SUPPORT)
    assert isinstance(verdict, Refusal)
    assert (verdict.reason, verdict.status) == (reason, status)
    assert "'message'" in verdict.detail and verdict.customer_text
    if reason == "too_long":
        assert SUPPORT in verdict.customer_text and "2,000" in verdict.customer_text


def test_a_message_at_the_cap_is_accepted() -> None:
    assert clean_message("a" * MAX_MESSAGE_CHARS, SUPPORT) == "a" * MAX_MESSAGE_CHARS


def _domain_payloads() -> list[str]:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    payloads = []
    for variants in domain["responses"].values():
        for variant in variants:
            for button in variant.get("buttons") or []:
                # Responses escape braces for Rasa's templating: {{ }} is a literal brace.
                payloads.append(button["payload"].replace("{{", "{").replace("}}", "}"))
    return payloads


@pytest.mark.parametrize("name", ["Vista 27 Pro 5K Monitor", "Nimbus 14 Laptop", "Café Chair ünï"])
def test_the_product_buttons_of_the_price_action_pass_unchanged(name: str) -> None:
    # As actions/sales.py builds them for an ambiguous product name.
    payload = f"/check_price{json.dumps({'product': name})}"
    assert clean_message(payload, SUPPORT) == payload


def test_every_button_payload_of_the_domain_passes_unchanged() -> None:
    payloads = _domain_payloads()
    assert payloads, "the domain has buttons"
    for payload in payloads:
        assert is_customer_payload(payload), payload
        assert clean_message(payload, SUPPORT) == payload


@pytest.mark.parametrize(
    ("typed", "read_as"),
    [
        ("/restart", "restart"),
        ("/session_start", "session_start"),
        ("/EXTERNAL_handoff_resolved", "EXTERNAL_handoff_resolved"),
        ("//restart", "restart"),
        ("  /back", "back"),
        ("/action_listen", "action_listen"),
        ("/nlu_fallback", "nlu_fallback"),
        ('/order_status{"order_id": "10042"}', 'order_status{"order_id": "10042"}'),
        ('/inform{"email": "dana@example.com"}', 'inform{"email": "dana@example.com"}'),
        ('/contact_preference{"contact_channel": "+1 555"}', 'contact_preference{"contact_channel": "+1 555"}'),
        ('/give_feedback{"rating": "5", "x": true}', 'give_feedback{"rating": "5", "x": true}'),
        ("/affirm@1.0", "affirm@1.0"),
        ('/check_price{"product": "/restart"}', 'check_price{"product": "/restart"}'),
        ('/check_price{"product": "x", "order_id": "10042"}', 'check_price{"product": "x", "order_id": "10042"}'),
        ('/verified_order{"verified_order": "10042"}', 'verified_order{"verified_order": "10042"}'),
    ],
)
def test_commands_a_customer_may_not_send_are_read_as_words(typed: str, read_as: str) -> None:
    assert clean_message(typed, SUPPORT) == read_as


def test_customer_intents_are_the_contract_and_nothing_internal() -> None:
    assert len(CUSTOMER_INTENTS) == 27
    assert not CUSTOMER_INTENTS & {"restart", "session_start", "back", "nlu_fallback"}
    assert not any(intent.startswith("EXTERNAL") for intent in CUSTOMER_INTENTS)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=3000))
def test_any_text_is_either_refused_or_clean(text: str) -> None:
    verdict = clean_message(text, SUPPORT)
    if isinstance(verdict, Refusal):
        return
    assert verdict == verdict.strip() and verdict
    assert len(verdict) <= MAX_MESSAGE_CHARS
    verdict.encode("utf-8")  # never raises: no lone surrogates reach Rasa
    assert "\x00" not in verdict
    assert not verdict.startswith("/") or is_customer_payload(verdict) or verdict == "/"


# ---- the gate in front of Agent.handle_message -------------------------------------------------


class Recorder:
    """Stands in for Rasa's ``Agent.handle_message``: records what reached it."""

    def __init__(self) -> None:
        self.seen: list[UserMessage] = []

    async def __call__(self, agent: Any, message: UserMessage) -> str:
        self.seen.append(message)
        return "handled"


def _send(text: Any, sender: Any = "customer-1", metadata: Any = None) -> tuple[Recorder, CollectingOutputChannel, Any]:
    recorder, output = Recorder(), CollectingOutputChannel()
    message = UserMessage(text, output, sender, input_channel="socketio", metadata=metadata)
    result = asyncio.run(gated(recorder)(None, message))  # type: ignore[arg-type]
    return recorder, output, result


def test_clean_text_reaches_rasa_cleaned() -> None:
    recorder, output, result = _send("  /restart ")
    assert result == "handled" and [m.text for m in recorder.seen] == ["restart"] and output.messages == []


def test_refused_text_is_answered_in_words_and_never_reaches_rasa() -> None:
    recorder, output, result = _send("x" * 5000)
    assert result is None and recorder.seen == []
    assert [m["recipient_id"] for m in output.messages] == ["customer-1"]
    assert "longer than I can read" in output.messages[0]["text"]


def test_an_unacceptable_sender_is_dropped_before_any_store() -> None:
    recorder, output, result = _send("hi", sender="x-\udfff")
    assert result is None and recorder.seen == [] and output.messages == []


def test_oversized_metadata_is_dropped_not_stored() -> None:
    recorder, _, _ = _send("hi", metadata={"blob": "x" * 10_000})
    assert recorder.seen[0].metadata == {}
    recorder, _, _ = _send("hi", metadata={"page": "/checkout"})
    assert recorder.seen[0].metadata == {"page": "/checkout"}


def test_every_channel_goes_through_the_gate_once_installed() -> None:
    from rasa.core.agent import Agent

    from channels import rasa_fixes

    rasa_fixes.install()
    rasa_fixes.install()
    assert getattr(Agent.handle_message, "golden_rule_gate", False)
    assert not getattr(Agent.handle_message.__wrapped__, "golden_rule_gate", False)  # wrapped once

