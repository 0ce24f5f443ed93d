"""The local fix for Rasa's per-call schema check keeps Rasa's behaviour: same verdicts, same errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

from channels import rasa_fixes
from channels.rest import JsonRestInput

VALID: list[dict[str, Any]] = [
    {},
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "order_id", "value": "10042", "timestamp": None}],
     "responses": [{"response": "utter_ask_email"}]},
    {"events": [{"event": "active_loop", "name": None}, {"event": "followup", "name": "action_listen"}]},
]
INVALID: list[Any] = [
    [],
    {"events": {"event": "slot"}},
    {"events": [{"event": "no_such_event"}]},
    {"events": [{"event": "slot"}]},  # a slot event without its name
    {"responses": ["utter_text_not_an_object"]},
]


@pytest.fixture
def original() -> Iterator[Any]:
    """Rasa's own method, restored after the test (the fix is process-wide)."""
    saved = RemoteAction._validate_action_result
    yield saved
    RemoteAction._validate_action_result = saved  # type: ignore[method-assign]


def _verdict(method: Any, result: Any) -> str:
    action = RemoteAction("action_x", EndpointConfig("http://127.0.0.1:1/webhook"))
    try:
        return "ok" if method(action, result) else "false"
    except jsonschema.ValidationError as error:
        return f"error: {error.message}"


@pytest.mark.parametrize("result", VALID + INVALID)
def test_same_verdicts_and_messages_as_rasa(original: Any, result: Any) -> None:
    assert _verdict(rasa_fixes.validate_action_result, result) == _verdict(original, result)


def test_invalid_responses_are_refused_with_rasa_hint(original: Any) -> None:
    verdicts = [_verdict(rasa_fixes.validate_action_result, result) for result in INVALID]
    assert all(v.startswith("error:") and "/custom-actions" in v for v in verdicts), verdicts


def test_the_schema_is_checked_once_not_per_call(original: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    rasa_fixes.response_validator.cache_clear()
    checks = 0
    cls = jsonschema.validators.validator_for(RemoteAction.action_response_format_spec())
    real_check = cls.check_schema

    def counting(schema: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal checks
        checks += 1
        real_check(schema, *args, **kwargs)

    monkeypatch.setattr(cls, "check_schema", staticmethod(counting))
    for result in VALID * 5:
        assert rasa_fixes.validate_action_result(RemoteAction("a", None), result)
    assert checks == 1


def test_building_a_channel_installs_the_fix_once(original: Any) -> None:
    JsonRestInput.from_credentials(None)
    JsonRestInput.from_credentials(None)
    assert RemoteAction._validate_action_result is rasa_fixes.validate_action_result


def test_an_unencodable_sender_id_is_an_error_of_the_turn_not_the_end_of_the_server(tmp_path: Any) -> None:
    """Rasa 3.6 took the UnicodeEncodeError for a missing schema and called sys.exit(1)."""
    import asyncio

    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain

    rasa_fixes.install()
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "tracker.db"))
    with pytest.raises(UnicodeEncodeError):  # an exception the never-silent guard answers; not SystemExit
        asyncio.run(store.retrieve("x-\udfff"))
    assert asyncio.run(store.retrieve("a-fine-id")) is None  # and the store still works
