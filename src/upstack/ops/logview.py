"""``upstack logs [-f] [SERVICE...]``: the local stack's service logs (``.upstack/logs/NAME.log``, written
by supervisord) merged into one stream, coloured per service and level, filtered by level and request id.

Each line is parsed on its own: the stack's JSON lines (``upstack.metrics.logs``) give their time,
level and request id; other servers' lines (PostgreSQL, Redis, Varnish, gunicorn) give what a level
word shows. Lines without a time of their own keep their place after the line before them in their
file, so a traceback stays with its message. Following is a poll of the files' sizes every half
second: a few lines of code over ``open``/``seek``, where a file-watching library would add a
dependency and a thread for the same result on one machine.
"""

from __future__ import annotations

import json
import re
import time
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

LEVELS = ("debug", "info", "warning", "error", "critical")
_ALIASES = {"warn": "warning", "fatal": "critical", "panic": "critical", "log": "info", "notice": "info",
            "err": "error", "crit": "critical"}
_LEVEL_WORD = re.compile(r"\b(DEBUG|INFO|NOTICE|WARNING|WARN|ERROR|CRITICAL|FATAL|PANIC|LOG)\b")
# A date and time at the start of a plain line (PostgreSQL, gunicorn's "[2026-11-25 10:00:00 +0000]").
_LEADING_TIME = re.compile(r"^\[?(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?)")
COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "bright_cyan", "bright_magenta", "bright_green",
           "bright_blue", "bright_yellow")
LEVEL_STYLES = {"debug": "dim", "info": "", "warning": "yellow", "error": "bold red", "critical": "bold white on red"}


def parse(service: str, line: str) -> dict:
    """One log line as ``{"service", "time", "level", "message", "request_id", "raw"}``."""
    line = line.rstrip("\n")
    entry = {"service": service, "time": None, "level": None, "message": line, "request_id": None, "raw": line}
    if line.startswith("{"):
        try:
            data = json.loads(line)
        except ValueError:
            data = None
        if isinstance(data, dict):
            level = str(data.get("level", "")).lower()
            extra = " ".join(f"{k}={data[k]}" for k in ("method", "path", "status", "duration_ms") if k in data)
            entry.update(time=data.get("time"), level=_ALIASES.get(level, level) or None,
                         message=" ".join(filter(None, (str(data.get("message", "")), extra))),
                         request_id=data.get("request_id"))
            return entry
    stamp = _LEADING_TIME.match(line)
    if stamp:
        entry["time"] = f"{stamp.group(1)}T{stamp.group(2)}"
    word = _LEVEL_WORD.search(line)
    if word:
        level = word.group(1).lower()
        entry["level"] = _ALIASES.get(level, level)
    return entry


def matches(entry: dict, level: str | None = None, request_id: str | None = None) -> bool:
    if level and LEVELS.index(entry["level"] or "info") < LEVELS.index(level):
        return False
    if request_id and request_id != entry["request_id"] and request_id not in entry["raw"]:
        return False
    return True


def tail(path: Path, lines: int) -> list[str]:
    with open(path, errors="replace") as handle:
        return list(deque(handle, maxlen=lines))


def merged(files: dict[str, Path], lines: int = 50) -> list[dict]:
    """The last ``lines`` lines of each service's log, merged by time (stable within each file)."""
    keyed = []
    for service, path in files.items():
        if not path.exists():
            continue
        stamp = ""
        for position, line in enumerate(tail(path, lines)):
            entry = parse(service, line)
            stamp = (entry["time"] or "").removesuffix("Z") or stamp
            keyed.append(((stamp, service, position), entry))
    return [entry for _, entry in sorted(keyed, key=lambda pair: pair[0])]


def follow(files: dict[str, Path], *, interval: float = 0.5, rounds: int | None = None) -> Iterator[dict]:
    """New lines of every log as they are written (from their current end); ``rounds`` bounds the polls."""
    offsets = {service: (path.stat().st_size if path.exists() else 0) for service, path in files.items()}
    partial = dict.fromkeys(files, "")
    done = 0
    while rounds is None or done < rounds:
        for service, path in files.items():
            if not path.exists():
                continue
            size = path.stat().st_size
            if size < offsets[service]:  # rotated or truncated: start again at its top
                offsets[service], partial[service] = 0, ""
            if size == offsets[service]:
                continue
            with open(path, errors="replace") as handle:
                handle.seek(offsets[service])
                chunk = partial[service] + handle.read()
                offsets[service] = handle.tell()
            *complete, partial[service] = chunk.split("\n")
            for line in complete:
                yield parse(service, line)
        done += 1
        time.sleep(interval)


def log_files(state_dir: Path, services: Iterable[str]) -> dict[str, Path]:
    return {name: Path(state_dir) / "logs" / f"{name}.log" for name in services}


def render(entry: dict, colours: dict[str, str]):
    """A coloured line: the service in its colour, the line in its level's style."""
    from rich.text import Text

    text = Text()
    text.append(f"{entry['service']:<13}", style=colours.get(entry["service"], ""))
    text.append(" | ")
    line = entry["raw"]
    if entry["raw"].startswith("{") and entry["time"]:  # a JSON line: readable, not JSON
        line = f"{entry['time']} {(entry['level'] or '').upper():<8} {entry['message']}"
        line += f" [{entry['request_id']}]" if entry["request_id"] else ""
    text.append(line, style=LEVEL_STYLES.get(entry["level"] or "info", ""))
    return text


def colours_for(services: Iterable[str]) -> dict[str, str]:
    return {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(services)}
