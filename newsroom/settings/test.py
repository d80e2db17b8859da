"""Test profile: the dev profile with fast hashing and DATABASE_URL honoured (SQLite by default)."""

from .dev import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
