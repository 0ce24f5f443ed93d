"""The website widget in a real browser against the real rasa server and action server.

Debian's chromium (``/usr/bin/chromium``; ``make test`` installs it) is driven by Playwright;
no browser is ever downloaded. The page is ``web/index.html`` served from its own port, so the
Socket.IO connection is cross-origin exactly as on a shop's site. Screenshots go to
``artifacts/`` (git-ignored); ``GOLDEN_RULE_DOCS_SCREENSHOT=1`` also refreshes ``docs/widget.png``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import socketio
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, expect, sync_playwright

from actions.settings import PROJECT_ROOT
from tests.channel_servers import BotServers, WebServer

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
ARTIFACTS = PROJECT_ROOT / "artifacts"
ANSWER_TIMEOUT_MS = 120_000  # a shared 2-core machine: be patient, never assert on speed


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotServers]:
    # No Slack settings here on purpose: this server also shows Slack switched off cleanly.
    env = {name: "" for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_CHANNEL")}
    bot = BotServers(tmp_path_factory.mktemp("widget"), extra_env=env, enable_api=True)
    try:
        yield bot.start()
    finally:
        bot.close()


@pytest.fixture(scope="module")
def web() -> Iterator[WebServer]:
    server = WebServer().start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (make test installs it)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1100, "height": 760})
    yield ctx
    ctx.close()


class Chat:
    """The widget on a page, with the few moves the tests need."""

    def __init__(self, page: Page, servers: BotServers, web: WebServer) -> None:
        self.page = page
        self.url = f"{web.url}/index.html?server={servers.rasa_url}"
        self.dialogs: list[str] = []
        page.on("dialog", self._on_dialog)
        self.log = page.locator(".gr-log")
        self.input = page.get_by_label("Your message")
        self.status = page.locator(".gr-status")
        self.typing = page.locator(".gr-typing")

    def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def open(self) -> Chat:
        self.page.goto(self.url)
        launcher = self.page.get_by_role("button", name="Brightdesk assistant")
        if launcher.is_visible():
            launcher.click()
        expect(self.input).to_be_focused()
        return self

    def wait_until_connected(self) -> None:
        self.page.wait_for_function(
            "() => { const s = document.querySelector('.gr-status'); return s && s.hidden; }",
            timeout=ANSWER_TIMEOUT_MS,
        )

    def say(self, text: str) -> None:
        self.input.fill(text)
        self.input.press("Enter")

    def bot_messages(self) -> list[str]:
        return self.page.locator(".gr-msg--bot .gr-text").all_text_contents()

    def wait_for_bot_text(self, needle: str) -> None:
        expect(self.page.locator(".gr-msg--bot .gr-text", has_text=needle).last).to_be_visible(
            timeout=ANSWER_TIMEOUT_MS
        )

    def session_id(self) -> str:
        return self.page.evaluate(
            "() => { for (let i = 0; i < localStorage.length; i++) {"
            " const k = localStorage.key(i); if (k.startsWith('golden-rule-chat:'))"
            " return JSON.parse(localStorage.getItem(k)).sessionId; } return null; }"
        )


def _tracker_texts(servers: BotServers, sender_id: str) -> list[str]:
    with urllib.request.urlopen(servers.api_url(f"/conversations/{sender_id}/tracker"), timeout=30) as response:
        tracker = json.loads(response.read())
    return [event.get("text") or "" for event in tracker["events"] if event.get("event") == "user"]


def test_socketio_reply_reaches_a_persistent_session(servers: BotServers) -> None:
    """The upstream bug (DESIGN §5): without channels/socketio.py's awaited enter_room no reply arrives."""

    async def talk() -> list[dict]:
        client = socketio.AsyncClient(reconnection=False)
        replies: list[dict] = []
        confirmed = asyncio.Event()
        got_reply = asyncio.Event()
        client.on("session_confirm", lambda _sid: confirmed.set())
        client.on("bot_uttered", lambda message: (replies.append(message), got_reply.set()))
        # polling: engineio's websocket client needs a newer aiohttp than rasa pins (the browser tests cover websockets)
        await client.connect(servers.rasa_url, socketio_path="/socket.io", transports=["polling"])
        try:
            await client.emit("session_request", {"session_id": "e2e-socket-session-1"})
            await asyncio.wait_for(confirmed.wait(), 60)
            await client.emit("user_uttered", {"message": "how much is the Nimbus 14 laptop?",
                                               "session_id": "e2e-socket-session-1"})
            await asyncio.wait_for(got_reply.wait(), 120)
        finally:
            await client.eio.disconnect(abort=True)  # a graceful polling disconnect waits out a long-poll
        return replies

    replies = asyncio.run(talk())
    assert any("$1,199.00" in reply.get("text", "") for reply in replies)


def test_slack_is_switched_off_cleanly_without_settings(servers: BotServers) -> None:
    with urllib.request.urlopen(f"{servers.rasa_url}/webhooks/slack/", timeout=30) as response:
        assert json.loads(response.read()) == {"status": "disabled"}
    request = urllib.request.Request(f"{servers.rasa_url}/webhooks/slack/webhook", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 404
    assert "not configured" in refused.value.read().decode()


def test_the_http_api_needs_its_token_and_the_channels_do_not(servers: BotServers) -> None:
    """As `make run` starts it: the HTTP API refuses requests without the token; customers never need it."""
    tracker = f"{servers.rasa_url}/conversations/api-token-check/tracker"
    for url in (tracker, f"{tracker}?token=wrong-{servers.api_token}"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=30)
        assert refused.value.code == 401
    request = urllib.request.Request(
        f"{servers.rasa_url}/webhooks/rest/webhook", method="POST", headers={"Content-Type": "application/json"},
        data=json.dumps({"sender": "api-token-check", "message": "how much is the Nimbus 14 laptop?"}).encode(),
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        assert any("$1,199.00" in (m.get("text") or "") for m in json.loads(response.read()))
    with urllib.request.urlopen(servers.api_url("/conversations/api-token-check/tracker"), timeout=30) as response:
        assert json.loads(response.read())["sender_id"] == "api-token-check"


def test_price_question_and_history_kept_across_reload(context: BrowserContext, servers: BotServers,
                                                       web: WebServer) -> None:
    chat = Chat(context.new_page(), servers, web).open()
    assert chat.log.get_attribute("aria-live") == "polite"
    chat.say("how much is the Nimbus 14 laptop?")
    chat.wait_for_bot_text("$1,199.00")
    times = chat.page.locator(".gr-msg time")
    assert times.count() >= 2
    assert re.search(r"\d{1,2}:\d{2}", times.first.inner_text())
    assert times.first.get_attribute("datetime")
    session_id = chat.session_id()
    assert session_id

    chat.page.reload()
    expect(chat.log).to_contain_text("how much is the Nimbus 14 laptop?")
    expect(chat.log).to_contain_text("$1,199.00")
    assert chat.session_id() == session_id
    chat.wait_until_connected()
    chat.say("what does the Dock Pro USB-C cost?")
    chat.wait_for_bot_text("$149.00")
    # The same conversation on the server, before and after the reload.
    texts = _tracker_texts(servers, session_id)
    assert "how much is the Nimbus 14 laptop?" in texts and "what does the Dock Pro USB-C cost?" in texts
    assert chat.dialogs == []


def _push_bot_message(servers: BotServers, session_id: str, event: dict) -> None:
    """Deliver a bot message to the live widget through the HTTP API (as a staff reply would be)."""
    request = urllib.request.Request(
        servers.api_url(f"/conversations/{session_id}/tracker/events?output_channel=latest&execute_side_effects=true"),
        data=json.dumps({"event": "bot", **event}).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=60).close()


def _click_and_check_price(chat: Chat, title: str, price: str, keyboard: bool = False) -> None:
    replies = chat.page.get_by_role("group", name="Suggested replies").last
    button = replies.get_by_role("button", name=title)
    if keyboard:
        button.focus()
        expect(button).to_be_focused()
        chat.page.keyboard.press("Enter")
    else:
        button.click()
    # The title is shown as what the customer said, not the /intent{...} payload.
    expect(chat.page.locator(".gr-msg--user .gr-text").last).to_have_text(title)
    assert "/check_price" not in chat.log.inner_text()
    chat.wait_for_bot_text(price)
    for button in replies.get_by_role("button").all():
        expect(button).to_be_disabled()
    expect(chat.input).to_be_focused()


def test_quick_replies_are_buttons_that_send_their_payload(context: BrowserContext, servers: BotServers,
                                                           web: WebServer) -> None:
    """Buttons as the price action sends them for an ambiguous name; clicking one runs the real action."""
    chat = Chat(context.new_page(), servers, web).open()
    chat.wait_until_connected()
    chat.say("hello")
    expect(chat.page.locator(".gr-msg--bot")).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)
    names = ["Vista 27 4K Monitor", "Vista 27 Pro 5K Monitor"]
    _push_bot_message(servers, chat.session_id(), {
        "text": "Which one do you mean?",
        "data": {"buttons": [{"title": n, "payload": f'/check_price{{"product": "{n}"}}'} for n in names]},
    })
    replies = chat.page.get_by_role("group", name="Suggested replies").last
    for name in names:
        expect(replies.get_by_role("button", name=name)).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    _click_and_check_price(chat, names[1], "$899.00", keyboard=True)  # a focused reply, pressed with Enter
    ARTIFACTS.mkdir(exist_ok=True)
    chat.page.screenshot(path=str(ARTIFACTS / "widget.png"))
    if os.environ.get("GOLDEN_RULE_DOCS_SCREENSHOT") == "1":
        chat.page.screenshot(path=str(PROJECT_ROOT / "docs" / "widget.png"))


def test_ambiguous_product_question_offers_buttons(context: BrowserContext, servers: BotServers,
                                                   web: WebServer) -> None:
    """The whole path from a customer's words: "Vista 27" fits two monitors, so the bot asks with buttons."""
    chat = Chat(context.new_page(), servers, web).open()
    chat.say("how much is the Vista 27?")
    expect(chat.page.locator(".gr-msg--bot")).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)
    replies = chat.page.get_by_role("group", name="Suggested replies")
    expect(replies.get_by_role("button", name="Vista 27 4K Monitor")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    _click_and_check_price(chat, "Vista 27 4K Monitor", "$429.00")
    ARTIFACTS.mkdir(exist_ok=True)
    chat.page.screenshot(path=str(ARTIFACTS / "widget-ambiguous.png"))


def test_markup_is_shown_as_text_and_never_runs(context: BrowserContext, servers: BotServers,
                                                web: WebServer) -> None:
    chat = Chat(context.new_page(), servers, web).open()
    chat.wait_until_connected()
    attack = "<img src=x onerror=alert(1)>"
    chat.say(attack)
    expect(chat.page.locator(".gr-msg--user .gr-text").last).to_have_text(attack)
    # A bot message with markup (as a staff reply pushed through the HTTP API would be).
    bot_attack = "Agent note: <b>bold</b> <img src=y onerror=alert(2)> <script>alert(3)</script>"
    _push_bot_message(servers, chat.session_id(), {"text": bot_attack})
    chat.wait_for_bot_text("Agent note:")
    assert bot_attack in chat.bot_messages()
    assert chat.log.locator("img, b, script").count() == 0
    chat.page.wait_for_timeout(1000)
    assert chat.dialogs == []


def test_blank_messages_are_not_sent_and_a_long_one_is_answered(context: BrowserContext, servers: BotServers,
                                                                web: WebServer) -> None:
    chat = Chat(context.new_page(), servers, web).open()
    chat.wait_until_connected()
    chat.say("   \n  ")
    chat.input.fill("")
    chat.page.get_by_role("button", name="Send").click()
    assert chat.page.locator(".gr-msg").count() == 0
    expect(chat.typing).to_be_hidden()

    long_message = ("my laptop keeps making a noise " * 400)[:10_000]
    assert len(long_message) == 10_000
    chat.say(long_message)
    expect(chat.page.locator(".gr-msg--bot").first).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(chat.typing).to_be_hidden()
    expect(chat.input).to_have_value("")
    chat.say("how much is the Nimbus 14 laptop?")
    chat.wait_for_bot_text("$1,199.00")


def test_phone_screen_and_keyboard_only(browser: Browser, servers: BotServers, web: WebServer) -> None:
    ctx = browser.new_context(viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True)
    try:
        page = ctx.new_page()
        chat = Chat(page, servers, web)
        page.goto(chat.url)
        launcher = page.get_by_role("button", name="Brightdesk assistant")
        launcher.focus()
        page.keyboard.press("Enter")
        expect(chat.input).to_be_focused()
        panel = page.locator(".gr-panel")
        box = panel.bounding_box()
        assert box is not None and box["width"] == pytest.approx(375, abs=1) and box["x"] == pytest.approx(0, abs=1)
        page.keyboard.type("how much is the Nimbus 14 laptop?")
        page.keyboard.press("Enter")
        chat.wait_for_bot_text("$1,199.00")
        # Every message fits the screen: nothing scrolls sideways.
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "widget-phone.png"))
        page.keyboard.press("Escape")
        expect(panel).to_be_hidden()
        expect(launcher).to_be_focused()
    finally:
        ctx.close()


def test_reconnects_when_the_server_comes_back(context: BrowserContext, servers: BotServers,
                                               web: WebServer) -> None:
    chat = Chat(context.new_page(), servers, web).open()
    chat.say("how much is the Nimbus 14 laptop?")
    chat.wait_for_bot_text("$1,199.00")

    servers.stop_rasa()
    expect(chat.status).to_contain_text("Reconnecting", timeout=ANSWER_TIMEOUT_MS)
    chat.say("what does the Dock Pro USB-C cost?")  # typed while the server is down: kept, sent later
    expect(chat.page.locator(".gr-msg--user .gr-text").last).to_have_text("what does the Dock Pro USB-C cost?")
    expect(chat.typing).to_be_visible()
    expect(chat.input).to_be_editable()

    servers.start_rasa()
    chat.wait_until_connected()
    chat.wait_for_bot_text("$149.00")
    expect(chat.typing).to_be_hidden()
    assert chat.dialogs == []


def test_action_server_down_is_told_in_the_widget_then_recovers(context: BrowserContext, servers: BotServers,
                                                                 web: WebServer) -> None:
    """Never silent in the widget: a dead action server gets the honest message, then service resumes."""
    chat = Chat(context.new_page(), servers, web).open()
    servers.stop_actions()
    try:
        chat.say("how much is the Nimbus 14 laptop?")
        chat.wait_for_bot_text("isn't responding")
        assert any("support@brightdesk.example" in text for text in chat.bot_messages())
        expect(chat.typing).to_be_hidden()
    finally:
        servers.start_actions()
    chat.say("how much is the Nimbus 14 laptop?")
    chat.wait_for_bot_text("$1,199.00")
    assert chat.dialogs == []
