"""shelf: the second reference site, a small library catalogue, deliberately unlike the newsroom.

It is a `django-admin startproject` site that adopted upstack by docs/adopting.md and nothing more:
the guide's settings line, its URLs line, and the options it chose in ``UPSTACK``. Everything the
stack needs (PostgreSQL, Redis, sessions, purges, static and media files) comes from the stack's
overlay under `upstack up` (upstack.stack.overlay). It uses only upstack's public API: class-based
views, multi-table inheritance and a proxy model, a JSON API, login-only pages, a staff toolbar on
cached pages, and uploads.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# Development only: the stack's overlay sets its own key from the environment.
SECRET_KEY = os.environ.get("SHELF_SECRET_KEY", "shelf-development-only-not-a-secret")
DEBUG = os.environ.get("SHELF_DEBUG", "") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "catalog",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "shelf.urls"
WSGI_APPLICATION = "shelf.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SHELF_SQLITE", str(BASE_DIR / "db.sqlite3")),
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/my-shelf/"

# docs/adopting.md, step 2: the one required line.
INSTALLED_APPS += ["upstack"]

# The options this site chose (docs/settings.md).
UPSTACK = {
    "STATE_DIR": os.environ.get("UPSTACK_STATE_DIR", ".upstack"),
    "SITE_NAME": "Shelf",
    "SEED": "catalog.seed.seed",
    "PASS_PATHS": ["/login/", "/logout/", "/admin/"],
    # A review changes its item's page and counts wherever the item is shown.
    "EDGE_TOUCH": {"catalog.review": ["item"]},
}
