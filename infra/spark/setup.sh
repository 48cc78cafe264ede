#!/usr/bin/env bash
# Fetches Spark (spark-sql and spark-sql-kafka-0-10, Scala 2.13, from Maven Central into ~/.m2)
# and builds seg's Spark driver (jvm/spark-driver) for local runs. Writes to $SEG_SPARK_HOME
# (default infra/spark/.work):
#   seg-spark-driver.jar   the driver (Spark itself is not inside: `provided`)
#   classpath.txt          Spark and its dependencies, ':'-separated jar paths in ~/.m2
#   stamp                  what was built (skips the work next time when nothing changed)
# Idempotent: a second run with nothing changed takes well under a second.
# Usage: bash infra/spark/setup.sh [--force]      (SPARK_VERSION=4.2.0 to try another Spark)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
POM="$ROOT/jvm/spark-driver/pom.xml"
OUT="${SEG_SPARK_HOME:-$ROOT/infra/spark/.work}"
FORCE=${1:-}
start=$(date +%s%N)
elapsed() { echo "$(( ($(date +%s%N) - $1) / 1000000 )) ms"; }
say() { echo "spark-setup: $*"; }

command -v java >/dev/null || { say "error: java not found (Java 17+ is needed)"; exit 1; }
command -v mvn >/dev/null || { say "error: mvn not found (apt-get install maven)"; exit 1; }
JAVA_MAJOR=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
if [ "${JAVA_MAJOR:-0}" -lt 17 ] 2>/dev/null; then say "error: Java $JAVA_MAJOR found; Spark 4 needs Java 17+"; exit 1; fi

DEFAULT_VERSION=$(sed -n 's:.*<spark.version>\(.*\)</spark.version>.*:\1:p' "$POM" | head -n1)
SPARK_VERSION=${SPARK_VERSION:-$DEFAULT_VERSION}

mkdir -p "$OUT"
# Copied every time (cheap): SEG_SPARK_HOME is then all a local run needs besides ~/.m2.
cp "$ROOT/infra/spark/jvm.options" "$ROOT/infra/spark/log4j2.properties" "$OUT/"

stamp=$( { echo "spark $SPARK_VERSION java $JAVA_MAJOR"; cat "$POM"; find "$ROOT/jvm/spark-driver/src" -type f | LC_ALL=C sort | xargs cat; } | sha256sum | cut -d' ' -f1)
if [ "$FORCE" != "--force" ] && [ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$stamp" ] \
   && [ -f "$OUT/seg-spark-driver.jar" ] && [ -f "$OUT/classpath.txt" ]; then
  missing=$(tr ':' '\n' < "$OUT/classpath.txt" | while read -r jar; do [ -e "$jar" ] || echo "$jar"; done | head -n1)
  if [ -z "$missing" ]; then
    say "Spark $SPARK_VERSION and the driver are up to date in $OUT ($(elapsed "$start"))"
    exit 0
  fi
  say "$missing is gone from the Maven cache: fetching again"
fi

m2="${HOME}/.m2/repository/org/apache/spark/spark-sql_2.13/$SPARK_VERSION"
if [ -d "$m2" ]; then say "Spark $SPARK_VERSION is in the Maven cache; building the driver"
else say "fetching Spark $SPARK_VERSION with Maven (about 330 MB into ~/.m2, about a minute) and building the driver"; fi

t=$(date +%s%N)
# package: the driver jar; build-classpath: every dependency jar (provided scope included).
mvn -B -q --no-transfer-progress -f "$POM" -Dspark.version="$SPARK_VERSION" \
  package dependency:build-classpath -Dmdep.outputFile="$OUT/classpath.txt.tmp"
say "maven: $(elapsed "$t")"
cp "$ROOT/jvm/spark-driver/target/seg-spark-driver.jar" "$OUT/seg-spark-driver.jar"
mv "$OUT/classpath.txt.tmp" "$OUT/classpath.txt"
echo "$SPARK_VERSION" > "$OUT/spark-version"
echo "$stamp" > "$OUT/stamp"
say "ready: Spark $SPARK_VERSION, $(tr ':' '\n' < "$OUT/classpath.txt" | wc -l) jars, driver $OUT/seg-spark-driver.jar ($(elapsed "$start"))"
say "run: bash infra/spark/run-driver.sh --spec X.pipeline.json --as-of 2026-11-01T00:00:00Z --input files:DIR --output files:OUT"
