"""What Django and the edge agree on, in one place: the paths and names both sides use.

The page middleware, the ESI modules, the URLs, the live checks and the rendered configurations
(the VCL, the load balancers' health checks, Kubernetes' probes) all take these from here, so a
change is made once. The policy functions that decide (``page.policy.cache_control``, the trust
lists read by ``metrics.clients`` and rendered by ``stack.context``) live with their owners and
read their settings from ``upstack.conf``.
"""

ESI_PREFIX = "/_esi/"  # per-reader fragments: the edge passes them with the reader's cookies
HEALTH_PATH = "/healthz"  # liveness: the process answers (load balancers)
READY_PATH = "/readyz"  # readiness: it can serve pages, database included (the edge's probe)
FRESH_COOKIE = "upstack_fresh"  # the signed read-your-own-writes cookie (edge.fresh)
# Paths the page cache never stores and the edge treats as not pages.
NOT_PAGES = (ESI_PREFIX, HEALTH_PATH, READY_PATH)
