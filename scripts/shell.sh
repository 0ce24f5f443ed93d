#!/usr/bin/env bash
# `rasa shell` in this terminal, with an action server behind it.
# Reuses the action server of a running `make run` (same ACTIONS_PORT, same token); otherwise starts
# one for the session (python -m golden_rule.action_server) and stops it on exit. The shell's own
# rasa server listens on SHELL_PORT (default 5006) so it does not collide with `make run` on 5005.
#   ACTIONS_PORT  action server port (default 5055; endpoints.yml reads it from the environment)
#   SHELL_PORT    port of the shell's rasa server (default 5006)
#   ENDPOINTS     endpoints file (default endpoints.yml; its action_endpoint must match ACTIONS_PORT)
#   MODEL         model archive (default models/golden-rule.tar.gz)
#   ACTIONS_LOG   where a started action server logs (default var/actions-shell.log)
# Like `make run`: umask 077 and an owner-only var/, and the action token (and the widget secret)
# from the environment, .env or var/secrets.env, generated there on first use (scripts/private.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
ACTIONS_PORT="${ACTIONS_PORT:-5055}"
SHELL_PORT="${SHELL_PORT:-5006}"
ENDPOINTS="${ENDPOINTS:-endpoints.yml}"
MODEL="${MODEL:-models/golden-rule.tar.gz}"
ACTIONS_LOG="${ACTIONS_LOG:-var/actions-shell.log}"
ACTIONS_BIND="${GOLDEN_RULE_ACTIONS_BIND:-127.0.0.1}"
export ACTIONS_PORT

# The tracker store (var/tracker.db), the log and the secrets are created owner-only.
umask 077
# shellcheck source=scripts/private.sh
source scripts/private.sh
private_var var
load_secrets var/secrets.env

case "$ACTIONS_BIND" in 0.0.0.0 | :: | '') actions_host=127.0.0.1 ;; *) actions_host="$ACTIONS_BIND" ;; esac
health="http://$actions_host:$ACTIONS_PORT/health"
actions_pid=""

cleanup() {
  if [ -n "$actions_pid" ]; then
    kill -TERM "$actions_pid" 2>/dev/null || true
    wait "$actions_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Whether the action server on the port takes our token. The URL goes to curl on stdin, so the
# token never shows in the process list.
token_accepted() {
  printf 'url = "http://%s:%s/actions?token=%s"\n' "$actions_host" "$ACTIONS_PORT" "$GOLDEN_RULE_ACTION_TOKEN" \
    | curl -fs --max-time 5 -K - >/dev/null 2>&1
}

if curl -fs "$health" >/dev/null 2>&1; then
  if ! token_accepted; then
    echo "An action server is running on port $ACTIONS_PORT but refuses this token (GOLDEN_RULE_ACTION_TOKEN" \
      "differs from the one it was started with): stop it, or set ACTIONS_PORT to a free port." >&2
    exit 1
  fi
  echo "Using the action server already running on port $ACTIONS_PORT."
else
  mkdir -p "$(dirname "$ACTIONS_LOG")"
  echo "Starting the action server on port $ACTIONS_PORT (log: $ACTIONS_LOG)..."
  "$VENV/bin/python" -m golden_rule.action_server --port "$ACTIONS_PORT" >"$ACTIONS_LOG" 2>&1 &
  actions_pid=$!
  for _ in $(seq 1 180); do
    curl -fs "$health" >/dev/null 2>&1 && break
    if ! kill -0 "$actions_pid" 2>/dev/null; then
      echo "The action server exited during start-up; see $ACTIONS_LOG." >&2
      exit 1
    fi
    sleep 1
  done
  curl -fs "$health" >/dev/null 2>&1 || { echo "The action server did not come up within 3 minutes." >&2; exit 1; }
fi

echo "Loading the model (about half a minute); type /stop to leave."
"$VENV/bin/rasa" shell --model "$MODEL" --endpoints "$ENDPOINTS" --port "$SHELL_PORT"
