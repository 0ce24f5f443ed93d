/*
 * Golden Rule chat widget: a small, dependency-free chat window for the Rasa Socket.IO channel.
 *
 * Needs the socket.io-client 4 standalone bundle (window.io) loaded before it. Configure it with
 * data-* attributes on its own <script> tag:
 *   data-server       URL of the rasa server (default: this page's host, port 5005)
 *   data-socket-path  Socket.IO path (default /socket.io)
 *   data-title        heading of the chat window (default "Chat with us")
 *   data-allow-server-param="true"  let ?server=URL on the page override data-server (demo/tests only)
 *
 * Every text from the bot or the user is put into the page with textContent, never as HTML.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var data = (script && script.dataset) || {};
  var params = new URLSearchParams(window.location.search);
  var server = data.server || (window.location.protocol + "//" + window.location.hostname + ":5005");
  if (data.allowServerParam === "true" && params.get("server")) {
    server = params.get("server");
  }
  var socketPath = data.socketPath || "/socket.io";
  var title = data.title || "Chat with us";
  var storageKey = "golden-rule-chat:" + server;
  var MAX_STORED = 200;
  var TYPING_TIMEOUT_MS = 90000;

  // ---- stored state: session id, transcript, open/closed ---------------------------------
  function loadState() {
    try {
      var raw = window.localStorage.getItem(storageKey);
      var state = raw ? JSON.parse(raw) : null;
      if (state && typeof state === "object" && Array.isArray(state.messages)) { return state; }
    } catch (e) { /* unreadable or blocked storage: start fresh */ }
    return { sessionId: null, messages: [], open: false };
  }
  function saveState() {
    state.messages = state.messages.slice(-MAX_STORED);
    try { window.localStorage.setItem(storageKey, JSON.stringify(state)); } catch (e) { /* storage full or blocked */ }
  }
  var state = loadState();

  // ---- DOM helpers --------------------------------------------------------------------------
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  var uid = "gr-" + Math.random().toString(36).slice(2, 8);

  var root = el("div", "gr-widget");
  var launcher = el("button", "gr-launcher", title);
  launcher.type = "button";
  launcher.setAttribute("aria-controls", uid + "-panel");
  launcher.setAttribute("aria-expanded", "false");

  var panel = el("section", "gr-panel");
  panel.id = uid + "-panel";
  panel.setAttribute("aria-label", title);
  panel.hidden = true;

  var header = el("header", "gr-header");
  var heading = el("h2", "gr-title", title);
  var closeButton = el("button", "gr-close", "\u00d7");
  closeButton.type = "button";
  closeButton.setAttribute("aria-label", "Close chat");
  header.append(heading, closeButton);

  var status = el("p", "gr-status");
  status.setAttribute("role", "status");
  status.hidden = true;

  var log = el("ol", "gr-log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  log.setAttribute("aria-label", "Conversation");
  log.tabIndex = 0;

  var intro = el("p", "gr-intro", "Ask about an order, a return, a product that isn't working, or anything in our catalog.");

  var typing = el("div", "gr-typing");
  typing.setAttribute("role", "status");
  typing.hidden = true;
  typing.append(el("span", "gr-dot"), el("span", "gr-dot"), el("span", "gr-dot"),
    el("span", "gr-sr", "The assistant is typing\u2026"));

  var form = el("form", "gr-form");
  var label = el("label", "gr-sr", "Your message");
  label.htmlFor = uid + "-input";
  var input = el("textarea", "gr-input");
  input.id = uid + "-input";
  input.rows = 1;
  input.placeholder = "Type a message\u2026";
  input.setAttribute("autocomplete", "off");
  var hint = el("span", "gr-sr", "Press Enter to send, Shift+Enter for a new line.");
  hint.id = uid + "-hint";
  input.setAttribute("aria-describedby", hint.id);
  var sendButton = el("button", "gr-send", "Send");
  sendButton.type = "submit";
  form.append(label, input, hint, sendButton);

  panel.append(header, status, intro, log, typing, form);
  root.append(launcher, panel);

  // ---- rendering ----------------------------------------------------------------------------
  function formatTime(iso) {
    var date = new Date(iso);
    return isNaN(date.getTime()) ? "" : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function disableOlderReplies() {
    var groups = log.querySelectorAll(".gr-replies button:not([disabled])");
    for (var i = 0; i < groups.length; i++) { groups[i].disabled = true; }
    state.messages.forEach(function (m) { if (m.buttons) { m.used = true; } });
  }

  function renderMessage(message) {
    var item = el("li", "gr-msg gr-msg--" + (message.from === "user" ? "user" : "bot"));
    var who = el("span", "gr-sr", message.from === "user" ? "You said: " : "Assistant: ");
    item.append(who);
    if (message.text) { item.append(el("p", "gr-text", message.text)); }
    if (message.image && /^https?:\/\//i.test(message.image)) {
      var image = el("img", "gr-image");
      image.src = message.image;
      image.alt = "Image from the assistant";
      item.append(image);
    }
    var time = el("time", "gr-time", formatTime(message.ts));
    time.dateTime = message.ts;
    item.append(time);
    if (message.buttons && message.buttons.length) {
      var group = el("div", "gr-replies");
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", "Suggested replies");
      message.buttons.forEach(function (button) {
        var choice = el("button", "gr-reply", button.title);
        choice.type = "button";
        choice.disabled = !!message.used;
        choice.addEventListener("click", function () {
          send(button.payload, button.title);
          input.focus();
        });
        group.append(choice);
      });
      item.append(group);
    }
    log.append(item);
    intro.hidden = true;
    log.scrollTop = log.scrollHeight;
  }

  function addMessage(message) {
    state.messages.push(message);
    saveState();
    renderMessage(message);
  }

  function showStatus(text) {
    status.textContent = text || "";
    status.hidden = !text;
  }

  var typingTimer = null;
  function setTyping(on) {
    typing.hidden = !on;
    window.clearTimeout(typingTimer);
    if (on) {
      typingTimer = window.setTimeout(function () {
        typing.hidden = true;
        showStatus("No answer yet. The assistant may be busy; you can send your message again.");
      }, TYPING_TIMEOUT_MS);
    }
  }

  // ---- connection ---------------------------------------------------------------------------
  var ready = false;
  var pending = [];
  var socket = null;

  function emitMessage(payload) {
    socket.emit("user_uttered", { message: payload, session_id: state.sessionId });
  }

  function send(payload, shownText) {
    if (typeof payload !== "string" || !payload.trim()) { return false; }
    disableOlderReplies();
    addMessage({ from: "user", text: shownText || payload, ts: new Date().toISOString() });
    if (ready) {
      emitMessage(payload);
    } else {
      pending.push(payload);
    }
    setTyping(true);
    return true;
  }

  function onBotMessage(message) {
    if (!message || typeof message !== "object") { return; }
    var entry = { from: "bot", text: typeof message.text === "string" ? message.text : "", ts: new Date().toISOString() };
    if (Array.isArray(message.quick_replies) && message.quick_replies.length) {
      entry.buttons = message.quick_replies
        .filter(function (b) { return b && typeof b.title === "string" && typeof b.payload === "string"; })
        .map(function (b) { return { title: b.title, payload: b.payload }; });
    }
    var attachment = message.attachment;
    if (attachment && attachment.type === "image" && attachment.payload && typeof attachment.payload.src === "string") {
      entry.image = attachment.payload.src;
    }
    if (!entry.text && !entry.image && !(entry.buttons && entry.buttons.length)) { return; }
    setTyping(false);
    addMessage(entry);
  }

  function connect() {
    if (typeof window.io !== "function") {
      showStatus("The chat could not load. Please reload the page.");
      return;
    }
    socket = window.io(server, { path: socketPath, reconnectionDelayMax: 5000 });
    socket.on("connect", function () {
      socket.emit("session_request", { session_id: state.sessionId });
    });
    socket.on("session_confirm", function (sessionId) {
      var id = typeof sessionId === "string" ? sessionId : (sessionId && sessionId.session_id);
      if (id && id !== state.sessionId) { state.sessionId = id; saveState(); }
      ready = true;
      showStatus("");
      while (pending.length) { emitMessage(pending.shift()); }
    });
    socket.on("bot_uttered", onBotMessage);
    socket.on("disconnect", function (reason) {
      ready = false;
      showStatus("Connection lost. Reconnecting\u2026");
      if (reason === "io server disconnect") { socket.connect(); }
    });
    socket.on("connect_error", function () {
      ready = false;
      showStatus("Can't reach the assistant right now. Reconnecting\u2026");
    });
  }

  // ---- interaction --------------------------------------------------------------------------
  function setOpen(open, moveFocus) {
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    root.classList.toggle("gr-widget--open", open);
    state.open = open;
    saveState();
    if (open && moveFocus) { input.focus(); }
    if (!open && moveFocus) { launcher.focus(); }
  }

  launcher.addEventListener("click", function () { setOpen(panel.hidden, true); });
  closeButton.addEventListener("click", function () { setOpen(false, true); });
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { setOpen(false, true); }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (send(input.value)) { input.value = ""; }
    input.focus();
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit", { cancelable: true }));
    }
  });

  function start() {
    document.body.append(root);
    state.messages.forEach(renderMessage);
    setOpen(!!state.open, false);
    connect();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
