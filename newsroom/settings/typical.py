"""The "typical" benchmark peer: what the most popular Django production template
gives you - gunicorn, a Redis cache for application use, WhiteNoise, sessions in the database,
persistent connections - and none of upstack's layers (no edge keys, page, fragment or query cache).
"""

from .plain import *  # noqa: F403
from .plain import DATABASES, env

DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
CACHES = {alias: {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env.str("REDIS_URL"),
                  "KEY_PREFIX": f"typical-{alias}"}
          for alias in ("default", "templates", "queries", "pages", "sessions", "data")}
