"""The widget's Socket.IO channel pieces, without a rasa server (the e2e test covers the browser)."""

from __future__ import annotations

import asyncio

import pytest
from rasa.core.channels.channel import UserMessage
from socketio import AsyncServer

from channels.settings import ChannelSettingsError, cors_origins, widget_secret
from channels.socketio import SessionIds, WebChatInput


def test_cors_origins_default_to_everyone_and_accept_a_list() -> None:
    assert cors_origins({}) == "*"
    assert cors_origins({"GOLDEN_RULE_CORS_ORIGINS": " * "}) == "*"
    assert cors_origins({"GOLDEN_RULE_CORS_ORIGINS": "https://shop.example, https://www.shop.example/"}) == [
        "https://shop.example", "https://www.shop.example",
    ]
    with pytest.raises(ChannelSettingsError):
        cors_origins({"GOLDEN_RULE_CORS_ORIGINS": "shop.example"})


SECRET = b"k" * 32


def test_issued_session_ids_are_random_signed_and_verifiable() -> None:
    ids = SessionIds(SECRET)
    first, second = ids.issue(), ids.issue()
    assert first != second
    assert ids.verified({"session_id": first}) == first
    assert SessionIds(SECRET).verified({"session_id": first}) == first  # another replica, same secret
    assert SessionIds(b"o" * 32).verified({"session_id": first}) is None  # another shop's secret


@pytest.mark.parametrize(
    "data",
    [
        {"session_id": "0f8e9d7c6b5a4f3e2d1c0b9a8f7e6d5c"},  # an id the widget made up itself (old widget)
        {"session_id": "e2e-socket-1"},
        {"session_id": "A" * 24 + "." + "B" * 22},  # right shape, forged signature
        {"session_id": "../../etc"},
        {"session_id": 42},
        {"session_id": None},
        "not a dict",
        None,
    ],
)
def test_session_ids_not_issued_here_are_not_accepted(data: object) -> None:
    assert SessionIds(SECRET).verified(data) is None


def test_a_short_widget_secret_is_refused() -> None:
    assert widget_secret({}) is None
    assert widget_secret({"GOLDEN_RULE_WIDGET_SECRET": "x" * 40}) == b"x" * 40
    with pytest.raises(ChannelSettingsError):
        widget_secret({"GOLDEN_RULE_WIDGET_SECRET": "short"})


async def _connected(channel: WebChatInput, sio: AsyncServer, name: str) -> str:
    return await sio.manager.connect(name, "/")


def _channel() -> tuple[WebChatInput, AsyncServer, list[UserMessage]]:
    channel = WebChatInput(session_persistence=True)
    channel.session_ids = SessionIds(SECRET)
    received: list[UserMessage] = []

    async def on_new_message(message: UserMessage) -> None:
        received.append(message)

    sio = AsyncServer(async_mode="asgi")
    channel._on_message = channel._message_handler(sio, on_new_message)  # type: ignore[attr-defined]
    return channel, sio, received


def test_session_request_joins_the_room_with_the_async_enter_room() -> None:
    """The DESIGN §5 bug: python-socketio >= 5.10 makes enter_room a coroutine that must be awaited."""

    async def scenario() -> tuple[str, set[str]]:
        channel, sio, _ = _channel()
        sid = await _connected(channel, sio, "engineio-sid-1")
        issued = channel.session_ids.issue()
        await channel._session_request_handler(sio)(sid, {"session_id": issued})
        return issued, set(sio.rooms(sid))

    issued, rooms = asyncio.run(scenario())
    assert issued in rooms


def test_a_socket_posts_only_into_the_session_it_was_given() -> None:
    async def scenario() -> tuple[list[UserMessage], set[str]]:
        channel, sio, received = _channel()
        owner = await _connected(channel, sio, "owner-socket")
        stranger = await _connected(channel, sio, "stranger-socket")
        issued = channel.session_ids.issue()
        await channel._session_request_handler(sio)(owner, {"session_id": issued})
        # The stranger asks for the owner's id made up in another shape, then for a forged one:
        await channel._session_request_handler(sio)(stranger, {"session_id": issued[:24] + "." + "A" * 22})
        await channel._on_message(stranger, {"message": "show my order", "session_id": issued})
        await channel._on_message(owner, {"message": "hello", "session_id": issued})
        return received, set(sio.rooms(stranger))

    received, stranger_rooms = asyncio.run(scenario())
    assert [m.text for m in received] == ["show my order", "hello"]
    assert received[0].sender_id != received[1].sender_id  # the stranger's text went to its own session
    assert received[1].sender_id not in stranger_rooms  # and it hears nothing of the owner's


def test_a_socket_without_a_session_cannot_post() -> None:
    async def scenario() -> list[UserMessage]:
        channel, sio, received = _channel()
        sid = await _connected(channel, sio, "no-session-socket")
        await channel._on_message(sid, {"message": "hi", "session_id": "anything-at-all-1234"})
        return received

    assert asyncio.run(scenario()) == []
