"""Run ``manage.py upstack`` in process, as from the command line: (exit code, stdout, stderr).

``run_from_argv`` is the command-line path (argparse errors exit 2, a ``CommandError`` exits with its
return code), so the exit codes of the CLI contract (docs/cli.md) are the real ones."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout


def upstack(*argv: str) -> tuple[int, str, str]:
    from upstack.management.commands.upstack import Command

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):  # argparse writes its errors to sys.stderr
        try:
            Command(stdout=out, stderr=err).run_from_argv(["manage.py", "upstack", *argv])
            code = 0
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()
