#!/bin/sh
# The edge's app pool under Compose - rendered by `manage.py upstack render --target compose`.
# `docker compose up --scale app=N` gives the service name `app` N addresses, and a VCL backend takes
# exactly one: this writes one health-probed backend per address (app-pool.vcl, included at the top of
# the VCL) and the lines that add them to the round-robin director (app-pool-init.vcl, included in
# vcl_init), then runs the command it was given (varnishd). After scaling, refresh the pool and
# reload the VCL (the cache survives; docs/deploy.md):
#   docker compose exec varnish sh /etc/upstack/varnish/app-pool.sh
#   docker compose exec varnish sh -c 'n=pool$(date +%s); varnishadm vcl.load $n /etc/upstack/varnish/default.vcl && varnishadm vcl.use $n'
set -eu
service="${APP_SERVICE:-app}"
out="${APP_POOL_VCL:-{{ app_pool_vcl }}}"
init="${out%.vcl}-init.vcl"
resolve="${APP_POOL_RESOLVE:-getent ahostsv4}"
tries=0
while :; do
    addresses=$($resolve "$service" | awk '{print $1}' | sort -u)
    [ -n "$addresses" ] && break
    tries=$((tries + 1))
    if [ "$tries" -ge "${APP_POOL_TRIES:-30}" ]; then echo "app-pool: $service does not resolve" >&2; exit 1; fi
    sleep 1
done
i=0
for address in $addresses; do
    i=$((i + 1))
    cat <<VCL
{% with backend=pool_backend %}{% include "varnish/backend.vcl" %}{% endwith %}
VCL
done > "$out.tmp"
i=0
for address in $addresses; do
    i=$((i + 1))
    echo "    app.add_backend(app$i);"
done > "$init.tmp"
mv "$out.tmp" "$out"
mv "$init.tmp" "$init"
echo "app-pool: $i app server(s) of $service: $(echo $addresses)" >&2
[ "$#" -eq 0 ] || exec "$@"
