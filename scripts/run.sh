#!/usr/bin/env bash
# Start the action server and the rasa server, say where to chat, stop both on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
RASA_PORT="${RASA_PORT:-5005}"
ACTIONS_PORT="${ACTIONS_PORT:-5055}"
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
"$VENV/bin/rasa" run --model models/golden-rule.tar.gz --port "$RASA_PORT" \
  --credentials credentials.yml --endpoints endpoints.yml --cors "*" &
pids+=($!)

wait_for "http://localhost:$ACTIONS_PORT/health" "Action server" "${pids[0]}"
wait_for "http://localhost:$RASA_PORT/" "Rasa server" "${pids[1]}"

cat <<MSG

  Golden Rule is running.
    REST:      curl -s localhost:$RASA_PORT/webhooks/rest/webhook -d '{"sender":"me","message":"how much is the Nimbus 14 laptop?"}'
    Socket.IO: http://localhost:$RASA_PORT (path /socket.io) for the website widget
    Shell:     make shell (in another terminal)
  Press Ctrl-C to stop.

MSG
wait -n "${pids[@]}" || true
