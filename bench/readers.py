"""Reader sessions for the logged-in workload, made in the stack's own environment (its settings and
database): ``python -m bench.readers --count 200`` prints a JSON list of ``{"cookie", "csrf"}``.

Each is a distinct reader account (the seeded ones, then ``benchreaderNNNN`` accounts made here
without a usable password) with a session stored the way ``django.contrib.auth.login`` stores one -
user id, backend, auth hash - and a CSRF secret in it (CSRF_USE_SESSIONS), which Django accepts as
the form token. The stacks share one database, so plain and typical (database sessions) read the
same sessions as upstack (cached_db). Logging hundreds of readers in through each stack's login
form would spend minutes hashing passwords and measure nothing more.
"""

from __future__ import annotations

import argparse
import json


def ensure_readers(count: int) -> list:
    from django.contrib.auth import get_user_model

    model = get_user_model()
    readers = list(model.objects.filter(username__startswith="reader").order_by("pk")[:count])
    missing = count - len(readers)
    if missing > 0:
        existing = set(model.objects.filter(username__startswith="benchreader").values_list("username", flat=True))
        new = [model(username=f"benchreader{n:04d}", first_name="Bench", last_name=f"Reader {n}")
               for n in range(count) if f"benchreader{n:04d}" not in existing]
        for user in new:
            user.set_unusable_password()
        model.objects.bulk_create(new)
        readers += list(model.objects.filter(username__startswith="benchreader").order_by("pk")[:missing])
    return readers


def sessions(count: int) -> list[dict]:
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH, CSRF_SESSION_KEY
    from django.utils.crypto import get_random_string

    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    made = []
    for user in ensure_readers(count):
        secret = get_random_string(CSRF_SECRET_LENGTH, allowed_chars=CSRF_ALLOWED_CHARS)
        store = store_class()
        store.update({SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                      HASH_SESSION_KEY: user.get_session_auth_hash(), CSRF_SESSION_KEY: secret})
        store.save()
        made.append({"cookie": f"{settings.SESSION_COOKIE_NAME}={store.session_key}", "csrf": secret})
    return made


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Logged-in reader sessions for the benchmark, as JSON.")
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args(argv)
    import django

    django.setup()
    print(json.dumps(sessions(args.count)))


if __name__ == "__main__":
    main()
