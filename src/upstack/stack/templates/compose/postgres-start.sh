#!/bin/sh
# Start PostgreSQL for {{ project }} - rendered by `manage.py upstack render --target {{ target }}`.
# On the first start (an empty data directory) initdb creates the cluster with {{ db_user }} as its
# superuser and POSTGRES_PASSWORD (.env) as its password, lets the project network in with SCRAM and
# creates the {{ db_name }} database; then PostgreSQL runs with the rendered postgresql.conf.
set -eu
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is not set (.env)}"
PGDATA=${PGDATA:-/var/lib/postgresql/data/pgdata}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA"
    chmod 700 "$PGDATA"
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb -D "$PGDATA" -U "{{ db_user }}" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
        --auth-local=scram-sha-256 --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all {{ subnet }} scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo 'CREATE DATABASE "{{ db_name }}"' | postgres --single -D "$PGDATA" postgres >/dev/null
fi
exec postgres -D "$PGDATA" --config-file=/etc/upstack/postgres/postgresql.conf
