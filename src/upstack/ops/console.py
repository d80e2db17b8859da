"""How ``manage.py upstack`` talks to the operator: the exit codes of the CLI contract (docs/cli.md),
rich tables for humans, JSON for machines, and a spinner with the elapsed time for long work.

Rendering is rich's; this module only fixes the house style (one table look, one spinner, one JSON
layout) so every subcommand reports the same way.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.table import Table

# The CLI contract (docs/cli.md).
OK = 0
FAILED = 1  # an operational failure: a server did not answer, a step failed, a backup does not match
BAD_INPUT = 2  # an argument, a file or a setting is wrong: fix the command line
CONFLICT = 3  # something else holds what is needed: a port in use, the deploy lock held

WIDTH = 120  # when the output is not a terminal


def table(title: str | None, columns: Iterable[str], rows: Iterable[Iterable], *, numeric: Iterable[str] = ()) -> Table:
    """One table in the house style; ``numeric`` columns are right-aligned, ``None`` shows as ``-``."""
    numeric = set(numeric)
    grid = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        grid.add_column(column, justify="right" if column in numeric else "left", overflow="fold")
    for row in rows:
        grid.add_row(*("-" if cell is None else str(cell) for cell in row))
    return grid


def console(stream) -> Console:
    """A console on ``stream`` (Django's OutputWrapper or a file): colours on a terminal, plain text
    ``WIDTH`` columns wide otherwise."""
    target = getattr(stream, "_out", stream)
    terminal = hasattr(target, "isatty") and target.isatty()
    return Console(file=target, width=None if terminal else WIDTH, force_terminal=terminal or None,
                   no_color=not terminal, highlight=False)


def show(stream, *renderables) -> None:
    out = console(stream)
    for renderable in renderables:
        out.print(renderable)


def text(renderable) -> str:
    """A renderable as plain text (for tests and logs)."""
    out = Console(file=io.StringIO(), width=WIDTH, no_color=True, highlight=False)
    out.print(renderable)
    return out.file.getvalue()


def dumps(data) -> str:
    """The JSON layout of every ``--json``: indented, keys in a stable order."""
    return json.dumps(data, indent=2, sort_keys=True, default=str)


def dumps_line(data) -> str:
    """One JSON document on one line (streams: ``logs --json``)."""
    return json.dumps(data, sort_keys=True, default=str)


@contextmanager
def working(label: str, say: Callable[[str], None] | None = None, *, file=None) -> Iterator[Callable[[str], None]]:
    """A spinner with the elapsed time while the block runs, on stderr when it is a terminal (nothing
    otherwise). Yields a ``say(message)`` that prints the message above the spinner and shows it
    beside the spinner until the next one."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    out = Console(file=file or sys.stderr)
    if not out.is_terminal:
        yield say or (lambda message: None)
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=out,
                  transient=True) as progress:
        task = progress.add_task(label)

        def step(message: str) -> None:
            progress.console.print(message)
            progress.update(task, description=f"{label}: {message.strip()}")

        yield step


__all__ = ["BAD_INPUT", "CONFLICT", "FAILED", "OK", "console", "dumps", "dumps_line", "show", "table", "text", "working"]
