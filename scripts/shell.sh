#!/usr/bin/env bash
# `rasa shell` in this terminal, with an action server behind it.
# Reuses the action server of a running `make run` (same ACTIONS_PORT); otherwise starts one for
# the session and stops it on exit. The shell's own rasa server listens on SHELL_PORT (default
# 5006) so it does not collide with `make run` on 5005.
#   ACTIONS_PORT  action server port (default 5055)
#   SHELL_PORT    port of the shell's rasa server (default 5006)
#   ENDPOINTS     endpoints file (default endpoints.yml; its action_endpoint must match ACTIONS_PORT)
#   MODEL         model archive (default models/golden-rule.tar.gz)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
ACTIONS_PORT="${ACTIONS_PORT:-5055}"
SHELL_PORT="${SHELL_PORT:-5006}"
ENDPOINTS="${ENDPOINTS:-endpoints.yml}"
MODEL="${MODEL:-models/golden-rule.tar.gz}"
health="http://localhost:$ACTIONS_PORT/health"
actions_pid=""

cleanup() {
  if [ -n "$actions_pid" ]; then
    kill -TERM "$actions_pid" 2>/dev/null || true
    wait "$actions_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if curl -fs "$health" >/dev/null 2>&1; then
  echo "Using the action server already running on port $ACTIONS_PORT."
else
  mkdir -p var
  echo "Starting the action server on port $ACTIONS_PORT (log: var/actions-shell.log)..."
  "$VENV/bin/rasa" run actions --actions actions --port "$ACTIONS_PORT" >var/actions-shell.log 2>&1 &
  actions_pid=$!
  for _ in $(seq 1 180); do
    curl -fs "$health" >/dev/null 2>&1 && break
    if ! kill -0 "$actions_pid" 2>/dev/null; then
      echo "The action server exited during start-up; see var/actions-shell.log." >&2
      exit 1
    fi
    sleep 1
  done
  curl -fs "$health" >/dev/null 2>&1 || { echo "The action server did not come up within 3 minutes." >&2; exit 1; }
fi

echo "Loading the model (about half a minute); type /stop to leave."
"$VENV/bin/rasa" shell --model "$MODEL" --endpoints "$ENDPOINTS" --port "$SHELL_PORT"
