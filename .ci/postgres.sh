#!/usr/bin/env bash
# Install PostgreSQL from Debian's packages if needed, start a throw-away server on
# 127.0.0.1 (a free port), and print "<storage URL> <server folder>" for the multi-worker
# tests. Works on a machine that has never had PostgreSQL.
# Usage: read -r url dir < <(bash .ci/postgres.sh [PORT]); stop: bash .ci/postgres.sh --stop DIR
set -euo pipefail
run() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "${1:-}" = "--stop" ]; then
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  run "$bin/pg_ctl" -D "$2/data" -m fast stop >&2 || true
  rm -rf "$2"
  exit 0
fi
port=${1:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  (apt-get update -qq && apt-get install -y -qq postgresql) >&2
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
root=$(mktemp -d /tmp/moo-compress-pg.XXXXXX)
data=$root/data
echo ci-secret > "$root/pw"
chown -R postgres "$root" 2>/dev/null || true
run "$bin/initdb" -D "$data" -U postgres --auth=scram-sha-256 --pwfile="$root/pw" >&2
run "$bin/pg_ctl" -D "$data" -o "-c listen_addresses=127.0.0.1 -p $port -k $root -c max_connections=200" -l "$root/log" -w start >&2
PGPASSWORD=ci-secret "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE moo_compress" >&2
echo "postgresql+psycopg://postgres:ci-secret@127.0.0.1:$port/moo_compress $root"
