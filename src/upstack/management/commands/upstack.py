"""``manage.py upstack``: one command, native subparsers.

Each subcommand's handler is one to three lines over the public library (``upstack.ops``,
``upstack.stack``, ...): parse, call, print. Errors become ``CommandError`` with a return code.
"""

import json

from django.core.management.base import BaseCommand, CommandError

import upstack
from upstack import conf


class Command(BaseCommand):
    help = (
        "upstack: run, render, inspect and operate the stack around this Django project. "
        "Use 'manage.py upstack SUBCOMMAND --help' for each subcommand."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")

        info = sub.add_parser("info", help="Show the upstack version and its effective settings.")
        info.add_argument("--json", action="store_true", help="Print machine-readable JSON.")

    def handle(self, *args, subcommand, **options):
        handler = getattr(self, "handle_" + subcommand.replace("-", "_"))
        return handler(**options)

    # --- subcommand handlers: one to three lines each -----------------------------------------

    def handle_info(self, **options):
        data = {"version": upstack.__version__, "settings": {k: conf.get(k) for k in conf.DEFAULTS}}
        self.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str))

    def fail(self, message, returncode=1):
        raise CommandError(message, returncode=returncode)
