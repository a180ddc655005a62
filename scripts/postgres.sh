#!/usr/bin/env bash
# Starts a throw-away PostgreSQL for the test suite (installing Debian's package if it is missing) and prints its
# URL. The server listens on 127.0.0.1 only, on a port derived from the checkout's path (so two checkouts do not
# collide); its data lives under /tmp, where the postgres user can reach it whatever the checkout's permissions.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
key="$(printf %s "$root" | sha256sum | cut -c1-8)"
port="${PGPORT_TEST:-$((55000 + 16#${key:0:4} % 500))}"
pgbin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
if [[ -z "$pgbin" ]]; then
  echo "› installing PostgreSQL from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
  pgbin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
fi
base="${TMPDIR:-/tmp}/govgate-pg-$key"
data="$base/data"
run() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
mkdir -p "$base"
if [[ $(id -u) -eq 0 ]]; then chown postgres "$base"; fi
if [[ ! -f "$data/PG_VERSION" ]]; then
  run "$pgbin/initdb" -D "$data" -U postgres -A trust --no-sync >/dev/null
fi
if ! run "$pgbin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  run "$pgbin/pg_ctl" -D "$data" -l "$base/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k /tmp -c fsync=off" start >/dev/null
fi
for db in govgate_test; do
  run "$pgbin/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" \
    | grep -q 1 || run "$pgbin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db"
done
echo "postgresql+psycopg://postgres@127.0.0.1:$port/govgate_test"
