#!/usr/bin/env bash
# Starts a single-node KRaft Kafka broker (broker and controller in one JVM) on 127.0.0.1:9092
# for seg's tests, unless one already answers there. Idempotent. Fetches Kafka's jars from Maven
# Central on first use, formats a fresh data folder, starts the broker in the background, waits
# until it answers a metadata request and prints the bootstrap address. Exits non-zero with the
# end of the broker's log when it does not come up in time. Stop it with infra/kafka/stop.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
timeout="${SEG_KAFKA_START_TIMEOUT:-60}"
started=$SECONDS

# One start at a time on this machine: a second caller waits, then finds the broker running.
mkdir -p "$KAFKA_WORK"
exec 9>"$KAFKA_WORK/start.lock"
flock -w "$((timeout + 120))" 9 || { echo "kafka: another start still holds $KAFKA_WORK/start.lock" >&2; exit 1; }

cp="$(kafka_classpath)"

# Something accepts connections on the port. A broker answers; a broker that was just killed can
# still hold its socket for a while (a JVM blocked in disk I/O dies only when the I/O ends), so a
# port that neither answers nor frees up is given until the timeout before this start gives up.
while kafka_port_open; do
  if kafka_ready "$KAFKA_BOOTSTRAP" 10 "$cp" >/dev/null; then
    echo "kafka: already running on $KAFKA_BOOTSTRAP"
    echo "$KAFKA_BOOTSTRAP"
    exit 0
  fi
  if [ $((SECONDS - started)) -ge "$timeout" ]; then
    echo "kafka: port $KAFKA_PORT is taken by something that does not answer as a Kafka broker (waited $((SECONDS - started)) s):" >&2
    ss -tanp "( sport = :$KAFKA_PORT )" >&2 2>/dev/null || true
    exit 1
  fi
  echo "kafka: port $KAFKA_PORT is taken but does not answer as a Kafka broker; waiting for it" >&2
  sleep 1
done

if pid="$(kafka_running_pid)"; then
  # Our broker is alive but not listening: wedged or still starting. Start over.
  echo "kafka: broker (pid $pid) is not answering; restarting it" >&2
  bash "$KAFKA_DIR/stop.sh" >&2 || true
fi

data="$KAFKA_WORK/data"
# SEG_KAFKA_KEEP_DATA=1 (tests that restart a broker of their own): start again on the data folder
# of the previous run, topics and offsets kept. By default every start formats a fresh one.
keep=0
if [ "${SEG_KAFKA_KEEP_DATA:-0}" = "1" ] && [ -f "$data/meta.properties" ]; then
  keep=1
else
  rm -rf "$data"
  mkdir -p "$data"
fi
sed -e "s|@PORT@|$KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" -e "s|@DATA_DIR@|$data|g" \
  "$KAFKA_DIR/server.properties" >"$KAFKA_WORK/server.properties"

# A cluster id is a random UUID in URL-safe base64 without padding (22 characters).
# One that starts with '-' would be read as an option (Kafka's own Uuid.randomUuid skips those too).
cluster_id="-"
while [ "${cluster_id:0:1}" = "-" ]; do
  cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
done
storage_tool="$(kafka_main_class "$cp" org.apache.kafka.tools.StorageTool kafka.tools.StorageTool)"
if [ "$keep" = 0 ] && ! java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp "$cp" $KAFKA_LOG4J "$storage_tool" format -t "$cluster_id" -c "$KAFKA_WORK/server.properties" --standalone \
    >"$KAFKA_WORK/format.log" 2>&1; then
  echo "kafka: formatting the data folder failed:" >&2
  tail -n 30 "$KAFKA_WORK/format.log" >&2
  exit 1
fi

heap="${SEG_KAFKA_HEAP:--Xms128m -Xmx512m}"
# setsid: the broker outlives the shell that started it (and a test runner's process group).
setsid nohup java $heap -XX:+UseSerialGC -Djava.awt.headless=true $KAFKA_LOG4J \
  -cp "$cp" kafka.Kafka "$KAFKA_WORK/server.properties" >"$KAFKA_LOG" 2>&1 </dev/null 9>&- &
echo $! >"$KAFKA_PID_FILE"
pid=$!

left=$((timeout - (SECONDS - started)))
[ "$left" -lt 5 ] && left=5
if kafka_ready "$KAFKA_BOOTSTRAP" "$left" "$cp" "$pid" >"$KAFKA_WORK/ready.log" 2>&1 \
    && kill -0 "$pid" 2>/dev/null; then
  echo "kafka: ready on $KAFKA_BOOTSTRAP (pid $pid, $((SECONDS - started)) s, log $KAFKA_LOG)"
  echo "$KAFKA_BOOTSTRAP"
  exit 0
fi
echo "kafka: the broker did not come up (waited $((SECONDS - started)) of ${timeout} s; $(tail -n 1 "$KAFKA_WORK/ready.log" 2>/dev/null)); end of $KAFKA_LOG:" >&2
tail -n 40 "$KAFKA_LOG" >&2 || true
bash "$KAFKA_DIR/stop.sh" >/dev/null 2>&1 || true
exit 1
