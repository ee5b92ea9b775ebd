#!/bin/sh
# Like the official image's entrypoint, for what testcontainers relies on: POSTGRES_USER,
# POSTGRES_PASSWORD, POSTGRES_DB (and POSTGRES_INITDB_ARGS); initdb on first start (without
# fsync: a test server's data is thrown away); password logins over TCP from any
# address (trust on the local socket); then exec postgres, passing extra arguments through
# (`-c fsync=off` or `postgres -c fsync=off`).
set -eu
if [ "${1:-}" = "" ] || [ "${1#-}" != "$1" ]; then
  set -- postgres "$@"
fi
if [ "$1" != "postgres" ]; then
  exec "$@"
fi
shift

user="${POSTGRES_USER:-postgres}"
db="${POSTGRES_DB:-$user}"
: "${PGDATA:=/var/lib/postgresql/data}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "error: POSTGRES_PASSWORD is not set" >&2
    exit 1
  fi
  pwfile="$(mktemp)"
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb -D "$PGDATA" --username="$user" --pwfile="$pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 --no-sync \
    ${POSTGRES_INITDB_ARGS:-} >/dev/null
  rm -f "$pwfile"
  {
    echo "local all all trust"
    echo "host all all 0.0.0.0/0 scram-sha-256"
    echo "host all all ::/0 scram-sha-256"
  } > "$PGDATA/pg_hba.conf"
  if [ "$db" != "postgres" ]; then
    # A short single-user run creates the database before the server listens anywhere.
    echo "CREATE DATABASE \"$db\"" | postgres --single -D "$PGDATA" postgres >/dev/null
  fi
  echo "database initialised (user $user, database $db)"
fi

exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
