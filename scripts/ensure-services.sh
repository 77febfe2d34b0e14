#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on 127.0.0.1 (start local ones that are installed
# but stopped) and that Debian's chromium is there for the browser tests. Prints one line
# naming what is missing and exits 1 when something cannot be had.
set -u
missing=()

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start >/dev/null 2>&1 || true
    for _ in $(seq 1 20); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
  fi
  pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || missing+=("PostgreSQL on 127.0.0.1:5432 (apt-get install postgresql)")
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  if command -v redis-server >/dev/null 2>&1; then
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null 2>&1 || true
    for _ in $(seq 1 20); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done
  fi
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || missing+=("Redis on 127.0.0.1:6379 (apt-get install redis-server)")
fi

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 || true
  fi
  [ -x /usr/bin/chromium ] || missing+=("Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "make test: missing: $(IFS='; '; echo "${missing[*]}")"
  exit 1
fi
