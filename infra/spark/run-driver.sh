#!/usr/bin/env bash
# Runs seg's Spark driver in local mode (in this JVM, no cluster): the arguments go to
# seg.spark.Driver (see infra/spark/README.md). Run infra/spark/setup.sh once first.
# SEG_SPARK_HOME: where setup.sh wrote the jar and classpath; SEG_JAVA: the java binary;
# SEG_SPARK_JAVA_OPTS: extra JVM options (e.g. -Xmx8g).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT="${SEG_SPARK_HOME:-$HERE/.work}"
if [ ! -f "$OUT/seg-spark-driver.jar" ] || [ ! -f "$OUT/classpath.txt" ]; then
  echo "seg-spark-driver: error: Spark is not set up in $OUT; run: bash infra/spark/setup.sh" >&2
  exit 2
fi
mapfile -t OPTS < <(grep -v '^\s*\(#\|$\)' "$HERE/jvm.options")
# shellcheck disable=SC2086
exec "${SEG_JAVA:-java}" "${OPTS[@]}" -Dlog4j2.configurationFile="$HERE/log4j2.properties" ${SEG_SPARK_JAVA_OPTS:-} \
  -cp "$OUT/seg-spark-driver.jar:$(cat "$OUT/classpath.txt")" seg.spark.Driver "$@"
