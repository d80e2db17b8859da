"""Settings shared by every newsroom profile.

12-factor: everything that differs between deployments comes from the environment (or a ``.env`` file
at the repository root) through django-environ. The defaults are the embedded ones: SQLite, an
in-process cache, no external servers.

Profiles: ``dev`` (make run), ``deploy`` (production), ``plain`` (every upstack feature off: the
"plain Django" benchmark peer), ``test`` (pytest).
"""

from datetime import timedelta
from pathlib import Path

import environ

from upstack.cache import caches_setting
from upstack.metrics.logs import logging_config
from upstack.metrics.sentry import init_sentry

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# Never used in production: deploy.py requires SECRET_KEY from the environment.
SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-do-not-use-in-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# The admin lives at a path from the environment; never the guessable /admin/.
ADMIN_URL = env.str("ADMIN_URL", default="newsroom-desk/").strip("/") + "/"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
    "django.contrib.postgres",
    "upstack",
    "cachalot",
    "axes",
    "newsroom.news",
]

MIDDLEWARE = [
    # First: it measures everything below (time breakdown, JSON request log, metrics).
    "upstack.metrics.middleware.RequestMetricsMiddleware",
    # The lean path: the edge's per-reader includes (/_esi/) go through the session and CSRF
    # middleware only, with a cached user (upstack.edge.lean).
    "upstack.edge.lean.LeanFragmentMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Surrogate keys, Cache-Control and the page cache; outside the session and CSRF middleware so it
    # sees the cookies they set (a response that sets a cookie is never shared).
    "upstack.page.middleware.UpstackPageMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: answers a locked-out login attempt (django-axes, below).
    "axes.middleware.AxesMiddleware",
]

# Login throttling (django-axes) on the site's and the admin's login alike: after AXES_FAILURE_LIMIT
# wrong passwords from one client address, or for one account, further attempts answer 429 without
# hashing a password, for AXES_COOLOFF_TIME. Operators clear a lockout with `manage.py axes_reset`
# (or axes_reset_ip ADDRESS, axes_reset_username NAME). The address is the client's as upstack
# resolves it behind the edge and the load balancer (UPSTACK["INTERNAL_IPS"]), never the proxy's.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_CLIENT_IP_CALLABLE = "upstack.metrics.clients.client_ip"
AXES_RESET_ON_SUCCESS = True
# Only failures are recorded: a successful login writes no row (and so purges nothing).
AXES_DISABLE_ACCESS_LOG = True

ROOT_URLCONF = "newsroom.urls"
WSGI_APPLICATION = "newsroom.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "newsroom" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "upstack.context_processors.upstack",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'newsroom.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
# Behind PgBouncer in transaction mode, server-side cursors must be off (upstack env sets this).
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool("DISABLE_SERVER_SIDE_CURSORS", default=False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets readers and the single writer work concurrently under gunicorn.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", "timeout": 20}
    )

# Cache namespaces (upstack.cache): default, templates, queries, pages, sessions, data - one server,
# separate prefixes and generations. CACHE_URL (redis://, memcached://) wins, else REDIS_URL, else an
# in-process cache. SESSION_REDIS_URL puts sessions on the persistent Redis (the broker's); MEMCACHED_LOCATION
# (host:port,host:port - rendered by `upstack render --with memcached`) puts templates and queries on memcached.
CACHE_URL = env.str("CACHE_URL", default="") or env.str("REDIS_URL", default="")
CACHES = caches_setting(CACHE_URL or None, sessions_url=env.str("SESSION_REDIS_URL", default="") or None,
                        memcached_location=env.str("MEMCACHED_LOCATION", default="") or None)
SHARED_CACHE = bool(CACHE_URL)

# Sessions: cached_db on the sessions namespace - off the database's hot path, and still working
# (from the database) while the cache server is down.
# Without a shared cache server (make run: gunicorn workers each with their own in-process cache) a
# cached session could outlive a logout in another worker, so sessions then stay in the database.
SESSION_ENGINE = "django.contrib.sessions.backends." + ("cached_db" if SHARED_CACHE else "db")
SESSION_CACHE_ALIAS = "sessions"
# The CSRF token lives in the session, not in its own cookie: per-user fragments served through
# ESI cannot set cookies (an include's headers never reach the browser), and the session cookie is
# already there for every reader who can post.
CSRF_USE_SESSIONS = True

# The query cache (django-cachalot) on the queries namespace. Only with a shared cache server: a
# per-process cache would let one worker serve results another worker's write invalidated.
CACHALOT_CACHE = "queries"
CACHALOT_ENABLED = env.bool("CACHALOT_ENABLED", default=SHARED_CACHE)
CACHALOT_TIMEOUT = 3600
CACHALOT_INVALIDATE_RAW = True
CACHALOT_UNCACHABLE_TABLES = frozenset(["django_migrations", "django_session"])
# cachalot.W001 compares backend paths with its list; upstack's backends are subclasses of the
# Redis, memcached and locmem backends it supports, with the same semantics.
SILENCED_SYSTEM_CHECKS = ["cachalot.W001"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Celery (upstack.tasks.make_celery): BROKER_URL selects the broker (Redis by default; amqp:// or
# sqs:// work too). Without one, tasks run eagerly in-process.
CELERY_BROKER_URL = env.str("BROKER_URL", default="")
# With Redis as the broker, a task whose worker died without acknowledging it comes back after this.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=300)}

# Mail: printed to the console by default; EMAIL_URL selects SMTP (smtp+tls://user:pass@host:587)
# or a directory (filemail:////absolute/path - django-environ drops one leading slash).
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Newsroom <news@localhost>")
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

# Where `manage.py upstack up` keeps the local stack's state (ports, data, logs).
UPSTACK = {
    "STATE_DIR": env.str("UPSTACK_STATE_DIR", default=".upstack"),
    # An article's updated_at is the fragments' version, shown on no list: a body edit (which changes
    # it) leaves the lists that show the article alone.
    "EDGE_VERSION_FIELDS": {"news.article": ["updated_at"]},
    # A comment or a like changes its article's counts, shown wherever the article is.
    "EDGE_TOUCH": {"news.comment": ["article"], "news.like": ["article"]},
    # "table" (one key per model's lists, purged by every write): the benchmark's "before" (docs/settings.md).
    "EDGE_KEYS": env.str("UPSTACK_EDGE_KEYS", default="precise"),
    # 0 (a reader's include never kept at the edge): the benchmark's "before" of issue 18 (docs/settings.md).
    "READER_EDGE_TTL": env.int("UPSTACK_READER_EDGE_TTL", default=300),
    # The login throttle's records are on no page: writing them purges nothing (and sets no fresh cookie).
    "EDGE_UNTRACKED_MODELS": ["axes.accessattempt", "axes.accessattemptexpiration", "axes.accesslog",
                              "axes.accessfailurelog"],
    # The page cache needs a cache every worker shares: a purge must reach all of them.
    "PAGE_CACHE": env.bool("PAGE_CACHE", default=SHARED_CACHE),
    "PURGE_BACKENDS": {
        "pages": {"BACKEND": "upstack.edge.backends.pagecache.PageCacheBackend"},
        **({"edge": {"BACKEND": "upstack.edge.backends.varnish.VarnishBackend",
                     "NODES": env.list("EDGE_URLS", default=[]) or [env.str("EDGE_URL")],
                     # Kubernetes: EDGE_URL names a headless Service; every replica behind it is purged.
                     "RESOLVE": env.bool("EDGE_RESOLVE", default=False)}}
           if env.str("EDGE_URL", default="") or env.list("EDGE_URLS", default=[]) else {}),
    },
    "BYPASS_SECRET": env.str("BYPASS_SECRET", default=""),
    # Read-your-own-writes cookie signing; the edge reads the same variable (docs/security.md).
    "FRESH_SECRET": env.str("UPSTACK_FRESH_SECRET", default=""),
    # The trust lists, rendered into the edge and the app server too (docs/security.md).
    "INTERNAL_IPS": env.list("UPSTACK_INTERNAL_IPS", default=["127.0.0.1/32", "::1/128"]),
    "LOAD_BALANCERS": env.list("UPSTACK_LOAD_BALANCERS", default=["127.0.0.1/32", "::1/128"]),
    "HTTP_ONLY": env.bool("UPSTACK_HTTP_ONLY", default=False),
    "BACKUP_DIR": env.str("BACKUP_DIR", default="var/backups"),
    "BACKUP_KEEP": env.int("BACKUP_KEEP", default=7),
    "BACKUP_STORAGE": "backups" if env.str("BACKUP_BUCKET", default="") else None,  # STORAGES["backups"]
    "DIRECT_DATABASE_URL": env.str("DIRECT_DATABASE_URL", default=""),
    "PASS_PATHS": ["/accounts/", f"/{ADMIN_URL}", "/metrics"],
    # What `upstack loadtest` visits: the most read articles, sections and tags.
    "LOADTEST_PREPARE": "newsroom.news.loadtest.prepare",
    "SEED": "newsroom.news.stack.seed",
    "LOADTEST_LOCUSTFILE": "bench/locustfile.py",
    # Uploads through Django on the local stack only, which has no media server (upstack up sets it).
    "SERVE_MEDIA": env.bool("UPSTACK_SERVE_MEDIA", default=False),
}

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=str(VAR_DIR / "static"))
MEDIA_URL = "/media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))
# Uploaded media (lead images, thumbnails): the filesystem, or an S3-compatible store when
# AWS_STORAGE_BUCKET_NAME is set (django-storages; AWS_S3_ENDPOINT_URL for MinIO and the like,
# credentials from the standard AWS_* variables).
MEDIA_STORAGE = (
    {"BACKEND": "storages.backends.s3.S3Storage",
     "OPTIONS": {"bucket_name": env.str("AWS_STORAGE_BUCKET_NAME"),
                 "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
                 "querystring_auth": False, "file_overwrite": False}}
    if env.str("AWS_STORAGE_BUCKET_NAME", default="") else
    {"BACKEND": "django.core.files.storage.FileSystemStorage"}
)
# Backups are copied to an S3-compatible bucket when BACKUP_BUCKET is set (UPSTACK["BACKUP_STORAGE"]).
BACKUP_STORAGE = (
    {"BACKEND": "storages.backends.s3.S3Storage",
     "OPTIONS": {"bucket_name": env.str("BACKUP_BUCKET"), "endpoint_url": env.str("BACKUP_S3_ENDPOINT_URL", default="")
                 or None, "querystring_auth": True, "file_overwrite": True, "default_acl": "private"}}
    if env.str("BACKUP_BUCKET", default="") else None
)
STORAGES = {
    **({"backups": BACKUP_STORAGE} if BACKUP_STORAGE else {}),
    "default": MEDIA_STORAGE,
    # Served straight from the apps' static/ directories, so no collectstatic is needed to browse the
    # site; the deploy profile switches to WhiteNoise's hashed, compressed manifest storage.
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# JSON lines on stderr for Django, Celery and upstack alike; one line per request (upstack.metrics).
LOGGING = logging_config(env.str("LOG_LEVEL", default="INFO"))

# Errors to Sentry when SENTRY_DSN is set; nothing at all otherwise.
init_sentry(env.str("SENTRY_DSN", default=""), environment=env.str("SENTRY_ENVIRONMENT", default="production"))

# Newsroom's own knobs.
NEWSROOM_PAGE_SIZE = 20
NEWSROOM_COMMENTS_PAGE_SIZE = 50
