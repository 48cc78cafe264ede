#!/usr/bin/env bash
# Starts the local services seg's integration tests need, if they are not running already.
# PostgreSQL and Redis come with this kind of machine; Kafka is fetched by infra/kafka.sh (later).
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if command -v pg_isready >/dev/null && ! pg_up; then
  echo "services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if command -v redis-server >/dev/null && ! redis_up; then
  echo "services: starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  for _ in $(seq 1 30); do redis_up && break; sleep 1; done
fi
pg_up && echo "services: PostgreSQL ready on 127.0.0.1:5432" || echo "services: PostgreSQL not available"
redis_up && echo "services: Redis ready on 127.0.0.1:6379" || echo "services: Redis not available"
