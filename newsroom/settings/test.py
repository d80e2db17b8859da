"""Test profile: the dev profile with fast hashing and DATABASE_URL honoured (SQLite by default)."""

from .dev import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The query cache is exercised by its own tests (tests/upstack/query/); elsewhere query counts are
# the uncached ones.
CACHALOT_ENABLED = False
