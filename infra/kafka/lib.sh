# Shared by infra/kafka/*.sh: where things are, and the classpath of Kafka's jars.
# Sourced, not run. Settings (environment):
#   SEG_KAFKA_PORT (9092), SEG_KAFKA_CONTROLLER_PORT (9093), SEG_KAFKA_WORK (infra/.work/kafka),
#   SEG_KAFKA_HEAP (-Xmx512m), SEG_KAFKA_START_TIMEOUT (60 seconds),
#   SEG_KAFKA_KEEP_DATA (0; 1 = start.sh keeps the data folder of a previous run).
KAFKA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_PORT="${SEG_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${SEG_KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_WORK="${SEG_KAFKA_WORK:-$KAFKA_DIR/../.work/kafka}"
mkdir -p "$KAFKA_WORK"
KAFKA_WORK="$(cd "$KAFKA_WORK" && pwd)"
KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
KAFKA_PID_FILE="$KAFKA_WORK/kafka.pid"
KAFKA_LOG="$KAFKA_WORK/kafka.log"
KAFKA_CLASSPATH_FILE="$KAFKA_WORK/classpath.txt"
KAFKA_LOG4J="-Dlog4j2.configurationFile=$KAFKA_DIR/log4j2.properties"

# Prints the classpath, fetching the jars from Maven Central first when needed (pom.xml changed,
# or a jar is gone from the local Maven repository).
kafka_classpath() {
  local stamp="$KAFKA_WORK/classpath.pom.sha256" want
  want="$(sha256sum "$KAFKA_DIR/pom.xml" | cut -d' ' -f1)"
  if [ -s "$KAFKA_CLASSPATH_FILE" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && kafka_jars_present; then
    cat "$KAFKA_CLASSPATH_FILE"
    return 0
  fi
  echo "kafka: fetching Apache Kafka's jars with Maven (once)" >&2
  if ! mvn -B -q -f "$KAFKA_DIR/pom.xml" dependency:build-classpath \
      -Dmdep.outputFile="$KAFKA_CLASSPATH_FILE" >"$KAFKA_WORK/mvn.log" 2>&1; then
    echo "kafka: mvn dependency:build-classpath failed; its output:" >&2
    tail -n 40 "$KAFKA_WORK/mvn.log" >&2
    return 1
  fi
  echo "$want" >"$stamp"
  cat "$KAFKA_CLASSPATH_FILE"
}

kafka_jars_present() {
  local jar
  local IFS=:
  for jar in $(cat "$KAFKA_CLASSPATH_FILE"); do [ -f "$jar" ] || return 1; done
  return 0
}

# The first of the given main classes that some jar of the classpath holds.
kafka_main_class() {
  local cp="$1" class jar
  shift
  for class in "$@"; do
    local entry="${class//.//}.class"
    local IFS=:
    for jar in $cp; do
      case "$jar" in *kafka*) unzip -l "$jar" "$entry" >/dev/null 2>&1 && { echo "$class"; return 0; } ;; esac
    done
    unset IFS
  done
  return 1
}

# True when something accepts connections on the broker port.
kafka_port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null
}

# The pid of the broker this script started, if it is still running.
kafka_running_pid() {
  local pid
  pid="$(cat "$KAFKA_PID_FILE" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# Waits up to $2 seconds until the broker at $1 answers a metadata request, giving up early when
# process $4 (if given) exits. $3 is the classpath. Ready.java is compiled
# once into the work folder: the source launcher would compile it on every call).
kafka_ready() {
  local cp="$3" classes="$KAFKA_WORK/ready-classes" want
  want="$(sha256sum "$KAFKA_DIR/Ready.java" | cut -d' ' -f1)"
  if [ "$(cat "$classes/.sha256" 2>/dev/null)" != "$want" ]; then
    rm -rf "$classes" && mkdir -p "$classes"
    javac -nowarn -cp "$cp" -d "$classes" "$KAFKA_DIR/Ready.java" && echo "$want" >"$classes/.sha256" || return 2
  fi
  java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp "$classes:$cp" $KAFKA_LOG4J Ready "$1" "$2" ${4:+"$4"}
}
