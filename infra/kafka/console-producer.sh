#!/usr/bin/env bash
# Kafka's own console producer against the test broker: one record per line of standard input.
#   infra/kafka/console-producer.sh --topic seg.events.purchase [--property parse.key=true ...]
# The broker is SEG_KAFKA_BROKERS (default 127.0.0.1:9092) unless --bootstrap-server is given.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cp="$(kafka_classpath)"
main="$(kafka_main_class "$cp" org.apache.kafka.tools.ConsoleProducer kafka.tools.ConsoleProducer)"
args=("$@")
case " $* " in
  *" --bootstrap-server "* | *" --bootstrap-server="*) ;;
  *) args=(--bootstrap-server "${SEG_KAFKA_BROKERS:-$KAFKA_BOOTSTRAP}" "${args[@]}") ;;
esac
exec java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 $KAFKA_LOG4J -cp "$cp" "$main" "${args[@]}"
