#!/usr/bin/env bash
# Stops the Kafka broker that infra/kafka/start.sh started (by its recorded pid); does nothing
# when none is running. Its data folder is left for inspection; start.sh formats a fresh one.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if ! pid="$(kafka_running_pid)"; then
  rm -f "$KAFKA_PID_FILE"
  echo "kafka: not running"
  exit 0
fi
kill -TERM "$pid" 2>/dev/null || true
for _ in $(seq 1 60); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.25
done
if kill -0 "$pid" 2>/dev/null; then
  echo "kafka: broker (pid $pid) did not stop within 15 s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
fi
rm -f "$KAFKA_PID_FILE"
echo "kafka: stopped (pid $pid)"
