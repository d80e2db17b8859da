# gunicorn configuration for {{ project }} - rendered by `manage.py upstack render --target {{ target }}`.
{% if runtime_sizing %}# Sized where it runs, never where it was rendered: WEB_CONCURRENCY (the platform's), else this
# container's CPUs and memory (upstack.stack.here).
from upstack.stack import here as _here

_plan = _here.plan()
bind = "{{ app_bind }}"
workers = _plan["web"]
worker_class = "gthread"
threads = _plan["threads"]
{% else %}# Sized for {{ sizing.cpus }} CPU(s) and {{ memory_human }} of memory (upstack.stack.sizing).
bind = "{{ app_bind }}"
workers = {{ sizing.app_workers }}
worker_class = "gthread"
threads = {{ sizing.app_threads }}
{% endif %}# A request that takes longer than this is killed; Varnish serves stale meanwhile.
timeout = 30
graceful_timeout = 30
keepalive = 5
# Recycle workers after N requests, with jitter so they do not all restart together.
max_requests = 2000
max_requests_jitter = 200
# Request-line and header limits (request-body buffering is the load balancer's job).
limit_request_line = 8190
limit_request_fields = 100
# Trust no forwarded path: a client's SCRIPT_NAME or PATH_INFO header, passed on by a proxy, would
# otherwise move the app under another prefix and poison the caches; header names with "_" are
# dropped. X-Forwarded-Proto (only that one) is believed from the edge, UPSTACK["INTERNAL_IPS"].
forwarder_headers = ""
header_map = "drop"
forwarded_allow_ips = "{{ forwarded_allow_ips }}"
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}
# Logs go to stderr; the process manager collects them.
accesslog = None
errorlog = "-"
loglevel = "info"
# Load the app in each worker, so a graceful reload (HUP) picks up new code.
preload_app = False
proc_name = "{{ project }}-app"


def post_worker_init(worker):
    """Tell a rolling reload (upstack.stack.rolling) this worker has loaded the app and accepts requests."""
    import os

    ready = os.environ.get("UPSTACK_WORKER_READY_DIR")
    if ready:
        os.makedirs(ready, exist_ok=True)
        open(os.path.join(ready, str(os.getpid())), "w").close()


def child_exit(server, worker):
    """Prometheus multiprocess mode: a dead worker's live gauges must not linger."""
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)

{% if app_statsd %}statsd_host = "{{ app_statsd }}"
{% endif %}
