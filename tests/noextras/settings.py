"""A minimal project with upstack and none of its extras (tests/upstack/test_optional_deps.py runs
tests/noextras/core_checks.py with it, in a venv where only upstack's core dependencies are installed).
A broker is configured on purpose: without Celery installed, work must still run in this process."""

from upstack.cache import caches_setting

SECRET_KEY = "noextras-test-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "upstack",
    "tests.inheritance_app",
]
MIDDLEWARE = [
    "upstack.metrics.middleware.RequestMetricsMiddleware",
    "upstack.page.middleware.UpstackPageMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "tests.noextras.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
CACHES = caches_setting(None)
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
CELERY_BROKER_URL = "redis://127.0.0.1:9/0"
UPSTACK = {
    "PURGE_BACKENDS": {"pages": {"BACKEND": "upstack.edge.backends.pagecache.PageCacheBackend"},
                       "recorder": {"BACKEND": "upstack.edge.backends.dummy.DummyBackend"}},
    "PURGE_REPEAT_AFTER": 0,
}
