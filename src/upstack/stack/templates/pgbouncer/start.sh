#!/bin/sh
# Start PgBouncer for {{ project }} - rendered by `manage.py upstack render --target {{ target }}`.
# Writes the userlist from POSTGRES_PASSWORD (the Secret or .env) so nothing secret is rendered, then
# execs PgBouncer. A '"' in the password is doubled, as the userlist format wants.
set -eu
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is not set: PgBouncer would refuse every login}"
umask 077
mkdir -p {{ pgbouncer_userlist_dir }}
escaped=$(printf '%s' "$POSTGRES_PASSWORD" | sed 's/"/""/g')
printf '"%s" "%s"\n' "{{ db_user }}" "$escaped" > {{ pgbouncer_userlist_dir }}/userlist.txt
exec pgbouncer /etc/upstack/pgbouncer/pgbouncer.ini
