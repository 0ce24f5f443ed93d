"""The widget's Socket.IO channel pieces, without a rasa server (the e2e test covers the browser)."""

from __future__ import annotations

import asyncio

import pytest
from socketio import AsyncServer

from channels.settings import ChannelSettingsError, cors_origins
from channels.socketio import WebChatInput, valid_session_id


def test_cors_origins_default_to_everyone_and_accept_a_list() -> None:
    assert cors_origins({}) == "*"
    assert cors_origins({"GOLDEN_RULE_CORS_ORIGINS": " * "}) == "*"
    assert cors_origins({"GOLDEN_RULE_CORS_ORIGINS": "https://shop.example, https://www.shop.example/"}) == [
        "https://shop.example", "https://www.shop.example",
    ]
    with pytest.raises(ChannelSettingsError):
        cors_origins({"GOLDEN_RULE_CORS_ORIGINS": "shop.example"})


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"session_id": "0f8e9d7c6b5a4f3e2d1c0b9a8f7e6d5c"}, "0f8e9d7c6b5a4f3e2d1c0b9a8f7e6d5c"),
        ({"session_id": "e2e-socket-1"}, "e2e-socket-1"),
        ({"session_id": "short"}, None),
        ({"session_id": "x" * 65}, None),
        ({"session_id": "../../etc"}, None),
        ({"session_id": 42}, None),
        ({"session_id": None}, None),
        ("not a dict", None),
        (None, None),
    ],
)
def test_only_well_formed_session_ids_are_used(data: object, expected: str | None) -> None:
    assert valid_session_id(data) == expected


def test_session_request_joins_the_room_with_the_async_enter_room() -> None:
    """The DESIGN §5 bug: python-socketio >= 5.10 makes enter_room a coroutine that must be awaited."""

    async def scenario() -> set[str]:
        sio = AsyncServer(async_mode="asgi")
        channel = WebChatInput(session_persistence=True)
        sid = await sio.manager.connect("engineio-sid-1", "/")
        handler = channel._session_request_handler(sio)
        await handler(sid, {"session_id": "browser-session-1"})
        return set(sio.rooms(sid))

    assert "browser-session-1" in asyncio.run(scenario())
