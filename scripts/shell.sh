#!/usr/bin/env bash
# rasa shell in this terminal, with the action server running behind it for the session.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
ACTIONS_PORT="${ACTIONS_PORT:-5055}"
"$VENV/bin/rasa" run actions --actions actions --port "$ACTIONS_PORT" >var/actions-shell.log 2>&1 &
actions_pid=$!
trap 'kill -TERM $actions_pid 2>/dev/null; wait $actions_pid 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 60); do curl -fs "http://localhost:$ACTIONS_PORT/health" >/dev/null 2>&1 && break; sleep 1; done
"$VENV/bin/rasa" shell --model models/golden-rule.tar.gz --endpoints endpoints.yml
