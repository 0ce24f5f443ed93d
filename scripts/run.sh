#!/usr/bin/env bash
# Start the action server, the rasa server and the website (web/ with the chat widget), say where
# to chat, stop everything on Ctrl-C. WEB_PORT (default 8000) and WEB_BIND (default 127.0.0.1) set
# where the page is served; the widget talks Socket.IO to the rasa server on RASA_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
RASA_PORT="${RASA_PORT:-5005}"
ACTIONS_PORT="${ACTIONS_PORT:-5055}"
WEB_PORT="${WEB_PORT:-8000}"
WEB_BIND="${WEB_BIND:-127.0.0.1}"
pids=()

stop() {
  trap - INT TERM EXIT
  echo
  echo "Stopping Golden Rule..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "Stopped."
}
trap stop INT TERM EXIT

api_state() {
  if [ -n "${GOLDEN_RULE_RASA_TOKEN:-}" ]; then echo "on, with GOLDEN_RULE_RASA_TOKEN"; else echo "off: set GOLDEN_RULE_RASA_TOKEN to use make tickets reply/resolve"; fi
}

staff_slack_state() {
  if [ -n "${GOLDEN_RULE_STAFF_SLACK_CHANNEL:-}" ]; then echo "on, channel $GOLDEN_RULE_STAFF_SLACK_CHANNEL"; else echo "off: GOLDEN_RULE_STAFF_SLACK_CHANNEL not set"; fi
}

slack_state() {
  if [ -n "${SLACK_BOT_TOKEN:-}" ] && [ -n "${SLACK_SIGNING_SECRET:-}" ]; then echo "on"; else echo "off: SLACK_* not set"; fi
}

wait_for() {  # url, name, pid
  for _ in $(seq 1 180); do
    if curl -fs "$1" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$3" 2>/dev/null; then echo "$2 exited during start-up; see the log above." >&2; return 1; fi
    sleep 1
  done
  echo "$2 did not come up within 3 minutes." >&2
  return 1
}

"$VENV/bin/rasa" run actions --actions actions --port "$ACTIONS_PORT" &
pids+=($!)
# The rasa HTTP API (conversations, trigger_intent: used by `make tickets ARGS='reply ...'` and
# 'resolve') is on only with a token: GOLDEN_RULE_RASA_TOKEN. The token guards the API alone; the
# REST, Socket.IO and Slack channels do not use it. Passed as an argument, so never echoed here.
api_args=()
if [ -n "${GOLDEN_RULE_RASA_TOKEN:-}" ]; then
  api_args=(--enable-api --auth-token "$GOLDEN_RULE_RASA_TOKEN")
fi
"$VENV/bin/rasa" run --model models/golden-rule.tar.gz --port "$RASA_PORT" \
  --credentials credentials.yml --endpoints endpoints.yml --cors "*" ${api_args[@]+"${api_args[@]}"} &
pids+=($!)
"$VENV/bin/python" -m http.server "$WEB_PORT" --bind "$WEB_BIND" --directory web >/dev/null 2>&1 &
pids+=($!)
web_url="http://localhost:$WEB_PORT/"
if [ "$RASA_PORT" != 5005 ]; then web_url="${web_url}?server=http://localhost:$RASA_PORT"; fi

wait_for "http://localhost:$ACTIONS_PORT/health" "Action server" "${pids[0]}"
wait_for "http://localhost:$RASA_PORT/" "Rasa server" "${pids[1]}"
wait_for "http://localhost:$WEB_PORT/" "Web server (port $WEB_PORT)" "${pids[2]}"

cat <<MSG

  Golden Rule is running.
    Website:   $web_url  (the chat button is at the bottom right)
    REST:      curl -s localhost:$RASA_PORT/webhooks/rest/webhook -d '{"sender":"me","message":"how much is the Nimbus 14 laptop?"}'
    Socket.IO: http://localhost:$RASA_PORT (path /socket.io) for the widget on a shop's own site
    Slack:     http://<public host>:$RASA_PORT/webhooks/slack/webhook ($(slack_state))
    Staff:     http://<public host>:$RASA_PORT/webhooks/staff_slack/webhook (live handoff in Slack: $(staff_slack_state))
    HTTP API:  $(api_state)
    Shell:     make shell (in another terminal)
  Press Ctrl-C to stop.

MSG
wait -n "${pids[@]}" || true
