#!/usr/bin/env bash
# Start the action server, the rasa server and the website (web/ with the chat widget), say where
# to chat, keep them running, stop everything on Ctrl-C (or TERM).
#
# Supervision: when one server dies, one line says which and how ("rasa server exited with code
# 1; restarting it in 2 s (restart 2 in the last 10 minutes)") and that server alone is started
# again after a back-off (1, 2, 4, 8, 16 s), while the others keep running. More than
# GOLDEN_RULE_RESTART_LIMIT (5) restarts of one server within GOLDEN_RULE_RESTART_WINDOW seconds
# (600) means something is wrong that a restart will not fix: everything is stopped and the script
# exits with 1. A server that dies during start-up stops everything at once (a configuration error).
#
# Privacy: runs with umask 077 and tightens var/ first (scripts/private.sh), so the store, the
# tracker store (var/tracker.db, created by rasa) and the secrets are owner-only.
# Secrets: GOLDEN_RULE_ACTION_TOKEN (the action server's token; endpoints.yml sends it) and
# GOLDEN_RULE_WIDGET_SECRET (the widget channel signs session ids with it) come from the environment
# or .env, else from var/secrets.env, generated on the first run. Never printed.
#
#   RASA_PORT (5005), ACTIONS_PORT (5055), WEB_PORT (8000), WEB_BIND (127.0.0.1): where each listens;
#   GOLDEN_RULE_ACTIONS_BIND (127.0.0.1): the action server's address (golden_rule/action_server.py).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
RASA_PORT="${RASA_PORT:-5005}"
ACTIONS_PORT="${ACTIONS_PORT:-5055}"
WEB_PORT="${WEB_PORT:-8000}"
WEB_BIND="${WEB_BIND:-127.0.0.1}"
ACTIONS_BIND="${GOLDEN_RULE_ACTIONS_BIND:-127.0.0.1}"
RESTART_LIMIT="${GOLDEN_RULE_RESTART_LIMIT:-5}"
RESTART_WINDOW="${GOLDEN_RULE_RESTART_WINDOW:-600}"
for setting in RESTART_LIMIT RESTART_WINDOW; do
  case "${!setting}" in
    '' | *[!0-9]* | 0) echo "GOLDEN_RULE_$setting must be a positive whole number, not '${!setting}'." >&2; exit 2 ;;
  esac
done
# endpoints.yml reads the action server's port from the environment.
export ACTIONS_PORT

# Every file this script and its servers create is owner-only (var/tracker.db included).
umask 077
# shellcheck source=scripts/private.sh
source scripts/private.sh
private_var var
load_secrets var/secrets.env

say() { printf '[run.sh %(%H:%M:%S)T] %s\n' -1 "$*"; }

# Where to check that a server answers: its own address, or loopback when it listens on all.
local_host() { case "$1" in 0.0.0.0 | :: | '') echo 127.0.0.1 ;; *) echo "$1" ;; esac; }

names=(actions rasa web)
declare -A label=([actions]="action server" [rasa]="rasa server" [web]="web server")
declare -A ready_url=(
  [actions]="http://$(local_host "$ACTIONS_BIND"):$ACTIONS_PORT/health"
  [rasa]="http://127.0.0.1:$RASA_PORT/"
  [web]="http://$(local_host "$WEB_BIND"):$WEB_PORT/"
)
declare -A pid=()       # running process per server; empty while it waits to be restarted
declare -A restarts=()  # start times ($SECONDS) of its restarts within the window, space-separated
declare -A due=()       # when ($SECONDS) a dead server is started again
declare -A coming_back=()  # restarted, not answering yet: say so once it does
stopping=""

# The rasa HTTP API (conversations, trigger_intent: used by `make tickets ARGS='reply ...'` and
# 'resolve') is on only with a token: GOLDEN_RULE_RASA_TOKEN. The token guards the API alone; the
# REST, Socket.IO and Slack channels do not use it. Passed as an argument, so never echoed here.
api_args=()
if [ -n "${GOLDEN_RULE_RASA_TOKEN:-}" ]; then
  api_args=(--enable-api --auth-token "$GOLDEN_RULE_RASA_TOKEN")
fi

start_actions() {
  # The token reaches it through the environment (exported by load_secrets), never argv.
  "$VENV/bin/python" -m golden_rule.action_server --port "$ACTIONS_PORT" &
  pid[actions]=$!
}
start_rasa() {
  "$VENV/bin/rasa" run --model models/golden-rule.tar.gz --port "$RASA_PORT" \
    --credentials credentials.yml --endpoints endpoints.yml --cors "*" ${api_args[@]+"${api_args[@]}"} &
  pid[rasa]=$!
}
start_web() {
  "$VENV/bin/python" -m http.server "$WEB_PORT" --bind "$WEB_BIND" --directory web >/dev/null 2>&1 &
  pid[web]=$!
}
start() {
  "start_$1"
  say "Started the ${label[$1]} (pid ${pid[$1]})."
}

stop() {
  [ -n "$stopping" ] && return 0
  stopping=1
  trap - INT TERM EXIT
  echo
  say "Stopping Golden Rule..."
  local name p alive
  for name in "${names[@]}"; do
    p="${pid[$name]:-}"
    if [ -n "$p" ]; then kill -TERM "$p" 2>/dev/null || true; fi
  done
  # Up to 30 s to finish in-flight requests, then KILL whatever is left.
  for _ in $(seq 1 150); do
    alive=""
    for name in "${names[@]}"; do
      p="${pid[$name]:-}"
      if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then alive=1; fi
    done
    [ -z "$alive" ] && break
    sleep 0.2
  done
  for name in "${names[@]}"; do
    p="${pid[$name]:-}"
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
      say "The ${label[$name]} did not stop within 30 s; killing it."
      kill -KILL "$p" 2>/dev/null || true
    fi
  done
  wait 2>/dev/null || true
  say "Stopped."
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

wait_for() {  # name: poll its URL; a death during start-up is fatal
  local name="$1"
  for _ in $(seq 1 180); do
    if curl -fs --max-time 2 "${ready_url[$name]}" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "${pid[$name]}" 2>/dev/null; then
      say "The ${label[$name]} exited during start-up; see the log above." >&2
      return 1
    fi
    sleep 1
  done
  say "The ${label[$name]} did not come up within 3 minutes." >&2
  return 1
}

how_it_ended() {  # exit status as bash reports it -> words
  local code="$1"
  if [ "$code" -gt 128 ]; then
    echo "code $code (killed by SIG$(kill -l "$((code - 128))" 2>/dev/null || echo "$((code - 128))"))"
  else
    echo "code $code"
  fi
}

window_words() {
  if [ $((RESTART_WINDOW % 60)) -eq 0 ]; then echo "$((RESTART_WINDOW / 60)) minutes"; else echo "$RESTART_WINDOW s"; fi
}

# A server died: schedule its restart, or give up when it has been restarted too often.
on_death() {
  local name="$1" code="$2" t recent=() delay n
  for t in ${restarts[$name]:-}; do
    if [ $((SECONDS - t)) -lt "$RESTART_WINDOW" ]; then recent+=("$t"); fi
  done
  if [ "${#recent[@]}" -ge "$RESTART_LIMIT" ]; then
    say "The ${label[$name]} exited with $(how_it_ended "$code") after ${#recent[@]} restarts in the last" \
      "$(window_words); giving up: stopping everything. See its log above." >&2
    return 1
  fi
  recent+=("$SECONDS")
  restarts[$name]="${recent[*]}"
  n="${#recent[@]}"
  delay=$((1 << (n - 1)))
  if [ "$delay" -gt 30 ]; then delay=30; fi
  due[$name]=$((SECONDS + delay))
  say "${label[$name]} exited with $(how_it_ended "$code"); restarting it in $delay s" \
    "(restart $n in the last $(window_words))."
}

supervise() {
  local name p code
  while true; do
    for name in "${names[@]}"; do
      p="${pid[$name]:-}"
      if [ -n "$p" ]; then
        if ! kill -0 "$p" 2>/dev/null; then
          # bash has reaped it already; `wait` hands over its exit status.
          code=0
          wait "$p" 2>/dev/null || code=$?
          pid[$name]=""
          coming_back[$name]=""
          on_death "$name" "$code" || return 1
        elif [ -n "${coming_back[$name]:-}" ] && curl -fs --max-time 1 "${ready_url[$name]}" >/dev/null 2>&1; then
          coming_back[$name]=""
          say "The ${label[$name]} is answering again (pid $p)."
        fi
      elif [ "$SECONDS" -ge "${due[$name]:-0}" ]; then
        start "$name"
        coming_back[$name]=1
      fi
    done
    # A background sleep: `wait` returns at once when Ctrl-C or TERM arrives, so the trap runs now.
    sleep 1 &
    wait $! 2>/dev/null || true
  done
}

for name in "${names[@]}"; do start "$name"; done
for name in "${names[@]}"; do wait_for "$name" || exit 1; done

web_url="http://localhost:$WEB_PORT/"
if [ "$RASA_PORT" != 5005 ]; then web_url="${web_url}?server=http://localhost:$RASA_PORT"; fi

api_state() {
  if [ -n "${GOLDEN_RULE_RASA_TOKEN:-}" ]; then echo "on, with GOLDEN_RULE_RASA_TOKEN"; else echo "off: set GOLDEN_RULE_RASA_TOKEN to use make tickets reply/resolve"; fi
}

staff_slack_state() {
  if [ -n "${GOLDEN_RULE_STAFF_SLACK_CHANNEL:-}" ]; then echo "on, channel $GOLDEN_RULE_STAFF_SLACK_CHANNEL"; else echo "off: GOLDEN_RULE_STAFF_SLACK_CHANNEL not set"; fi
}

slack_state() {
  if [ -n "${SLACK_BOT_TOKEN:-}" ] && [ -n "${SLACK_SIGNING_SECRET:-}" ]; then echo "on"; else echo "off: SLACK_* not set"; fi
}

cat <<MSG

  Golden Rule is running.
    Website:   $web_url  (the chat button is at the bottom right)
    REST:      curl -s localhost:$RASA_PORT/webhooks/rest/webhook -d '{"sender":"me","message":"how much is the Nimbus 14 laptop?"}'
    Socket.IO: http://localhost:$RASA_PORT (path /socket.io) for the widget on a shop's own site
    Slack:     http://<public host>:$RASA_PORT/webhooks/slack/webhook ($(slack_state))
    Staff:     http://<public host>:$RASA_PORT/webhooks/staff_slack/webhook (live handoff in Slack: $(staff_slack_state))
    HTTP API:  $(api_state)
    Actions:   $ACTIONS_BIND:$ACTIONS_PORT, for the rasa server only (token required)
    Shell:     make shell (in another terminal)
  A server that stops is restarted on its own. Press Ctrl-C to stop.

MSG
supervise || exit 1
