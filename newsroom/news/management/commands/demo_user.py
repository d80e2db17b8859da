"""``manage.py demo_user``: create (or reset) the demo reader and print how to log in."""

import environ
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

DEFAULT_PASSWORD = "read-the-news"  # development only; set DEMO_PASSWORD for anything shared


class Command(BaseCommand):
    help = "Create the demo reader account (username 'demo', password from DEMO_PASSWORD) and print it."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="site URL shown in the message")

    def handle(self, *, username, url, **options):
        password = environ.Env().str("DEMO_PASSWORD", default=DEFAULT_PASSWORD)
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=username, defaults={"first_name": "Demo", "last_name": "Reader"}
        )
        user.set_password(password)
        user.save(update_fields=["password"])
        verb = "Created" if created else "Reset"
        self.stdout.write(f"{verb} the demo reader. Log in at {url.rstrip('/')}/accounts/login/ "
                          f"as {username} / {password}")
