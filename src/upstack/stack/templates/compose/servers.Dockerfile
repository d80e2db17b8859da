# The servers of the {{ project }} stack from Debian's packages (the same binaries as the systemd
# target) - rendered by `manage.py upstack render --target compose`. BASE as in the Dockerfile.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
# No cluster at install time (start.sh makes one in the volume), and no service started by a package.
RUN mkdir -p /etc/postgresql-common && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf \
    && printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
    && apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        {{ server_packages }} && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/postgresql/data /var/run/postgresql /data \
    && chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql && chown redis:redis /data
ENV PATH=/usr/lib/postgresql/15/bin:$PATH
