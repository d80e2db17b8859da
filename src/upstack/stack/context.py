"""What a rendered stack is made of: the inputs every config renderer reads.

``StackContext`` is plain data (no I/O): resources of the target machine, the services and their
loopback ports, directories, and the Django project facts the configs need (settings module, WSGI
app, session/CSRF cookie names...). ``render`` turns it into config text; ``runner`` builds one for
the local machine and starts the result. This module must never start processes or read settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..edge import contract


@dataclass(frozen=True)
class Resources:
    """The machine (or container limit) a config is sized for."""

    cpus: int
    memory_bytes: int


@dataclass(frozen=True)
class Placement:
    """One host of a multi-host layout (``render --inventory``, built by ``inventory.placement``): what
    runs on it, the address its services bind to, and ``(address, port)`` of everything it talks to."""

    host: str
    address: str
    services: tuple[str, ...]
    # Services with one instance: postgres (the primary), pgbouncer, redis-cache, redis-broker.
    reach: dict[str, tuple[str, int]]
    # This host's own ports where the inventory moved one, by service.
    ports: dict[str, int]
    edges: tuple[tuple[str, int], ...]
    apps: tuple[tuple[str, int], ...]
    replicas: tuple[tuple[str, int], ...]
    memcached: tuple[tuple[str, int], ...]
    load_balancers: tuple[str, ...]
    # Hosts that purge or forward to the app (app, worker, edge): trusted like UPSTACK["INTERNAL_IPS"].
    insiders: tuple[str, ...]
    primary: tuple[str, int]
    # Hosts that run Django processes or PgBouncer (PostgreSQL lets them in), and the replicas' hosts.
    db_clients: tuple[str, ...] = ()
    replica_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class StackContext:
    resources: Resources
    # Where the project lives (manage.py) and where state/data/logs of a local stack go.
    base_dir: str
    state_dir: str
    # Django facts.
    settings_module: str
    wsgi_application: str  # "module:attribute" (stack/project.py: UPSTACK or Django's WSGI_APPLICATION)
    celery_app: str  # "module:attribute" (UPSTACK["CELERY_APP"], default "<project>.celery:app")
    session_cookie_name: str = "sessionid"
    csrf_cookie_name: str = "csrftoken"
    health_path: str = contract.HEALTH_PATH  # liveness: the process answers (load balancers)
    ready_path: str = contract.READY_PATH  # readiness: it can serve pages, database included (the edge's probe)
    esi_prefix: str = contract.ESI_PREFIX
    fresh_cookie: str = contract.FRESH_COOKIE
    python: str = "python3"  # interpreter of the project's virtualenv (absolute path for local)
    # Loopback ports of each service (local target); other targets use the standard ports.
    ports: dict[str, int] = field(default_factory=dict)
    # Absolute paths of server binaries (local target): {"varnishd": "/usr/sbin/varnishd", ...}.
    binaries: dict[str, str] = field(default_factory=dict)
    # Optional services switched on.
    with_pgbouncer: bool = False
    with_haproxy: bool = False
    with_memcached: bool = False
    # Local stack only (`up --with observability,flower`): Prometheus scraping the stack, and Flower.
    with_observability: bool = False
    with_flower: bool = False
    # Local stack only (`up --with replica`): a PostgreSQL streaming replica the app reads from (docs/scaling.md).
    with_replica: bool = False
    app_server: str = "gunicorn"  # or "granian"
    # Number of app servers behind the director (local target: one per port in app_ports).
    app_ports: tuple[int, ...] = ()
    # Other targets: the app servers behind each edge's round-robin director, (host, port) each
    # (``render --app-hosts a:8000,b:8000``); empty: the target's one app service.
    app_hosts: tuple[tuple[str, int], ...] = ()
    # Database name/user of the stack.
    db_name: str = "upstack"
    db_user: str = "upstack"
    # Names for units, images and pages.
    project: str = "site"
    # Where the project is installed on a host (systemd target): code and its .venv.
    install_dir: str = "/srv/site"
    # The app image (compose, kubernetes) and the public host name (load balancer, ALLOWED_HOSTS).
    image: str = "site:latest"
    server_name: str = "localhost"
    # Combined certificate + key PEM for TLS at the load balancer.
    tls_cert: str = "/etc/upstack/tls/site.pem"
    # Edge policy from settings: the fresh-render parameter, tracking parameters
    # dropped from URLs, URL regexes answered 404 at the edge, exact-path redirects, the error page.
    bypass_param: str = "flush-the-cache"
    tracking_params: tuple[str, ...] = ("utm_[a-z]+", "fbclid", "gclid")
    not_found: tuple[str, ...] = ()
    redirects: tuple[tuple[str, str], ...] = ()
    pass_paths: tuple[str, ...] = ("/accounts/", "/admin/")
    error_page: str = "<!doctype html><title>Back soon</title><h1>We will be right back</h1>"
    # Trust lists, from UPSTACK["INTERNAL_IPS"] and UPSTACK["LOAD_BALANCERS"]: insiders
    # (purge, bypass, metrics; also the peers gunicorn takes X-Forwarded-Proto from), and the load
    # balancers whose X-Forwarded-For, X-Forwarded-Proto and X-Request-ID the edge believes.
    internal_networks: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    load_balancers: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    # One app or worker pod's share of a node (kubernetes target: --pod-cpus/--pod-memory); None: 1 CPU, 1 GiB.
    pod_resources: Resources | None = None
    # Compose: the project root (pyproject.toml, manage.py) relative to the rendered folder, and the
    # rendered Dockerfile relative to that root (render_target fills both in from --out).
    build_context: str = "."
    dockerfile: str = "Dockerfile"
    # systemd from an inventory: this host's share of the layout; None: one host (loopback).
    placement: Placement | None = None
    # Compose and Kubernetes from an inventory: {"app": n, "worker": n, "varnish": n}; empty: the defaults.
    replicas: dict[str, int] = field(default_factory=dict)
    # Seconds a writer's pages are rendered fresh after a write (the signed upstack_fresh cookie).
    fresh_window: int = 5
