"""The CLI contract of ``manage.py upstack`` (docs/cli.md): exit codes 0/1/2/3, errors that name what
failed and the fix, ``choices`` for every enumerated argument, ``--json`` on every reporting command,
rich tables for humans, a spinner with the elapsed time for long work.

The parser is walked, not sampled: a new argument must either have choices or be declared free-form
here with the reason, and a new reporting command must have --json."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from tests.upstack.cli import upstack
from upstack.management import arguments
from upstack.management.commands.upstack import Command
from upstack.ops import console

# Arguments whose values are not from a fixed set: (subcommand path, dest) -> what they hold.
FREE_FORM = {
    ("render", "out"): "a directory", ("render", "memory"): "a size", ("render", "pod_memory"): "a size", ("up", "memory"): "a size",
    ("up", "stack_settings"): "a module", ("backup", "file"): "a file", ("backup", "dir"): "a directory",
    ("restore", "file"): "a file (or its name in the backup storage)", ("check", "live"): "a URL", ("check", "host"): "a host name",
    ("warm", "source"): "sitemap, access-log[:PATH] or a file (checked by warm.parse_source, exit 2)",
    ("warm", "edge"): "a URL", ("warm", "host"): "a host name", ("loadtest", "duration"): "a duration",
    ("loadtest", "target"): "a URL", ("loadtest", "out"): "a directory",
    ("loadtest", "scenario"): "the locustfile's SCENARIOS (checked before the stack is asked, exit 2)",
    ("loadtest", "locustfile"): "a file", ("report dashboard", "prometheus"): "a URL (loopback only)",
    ("top", "prometheus"): "a URL (loopback only)",
    ("report dashboard", "out"): "a file", ("loadtest", "urls"): "a file", ("lock", "reason"): "free text", ("logs", "request_id"): "a request id",
    ("render", "app_hosts"): "HOST:PORT,... (checked by stack.parse_app_hosts, exit 2)",
    ("render", "inventory"): "a TOML file (checked by stack.inventory.parse, exit 2)",
}


def subcommands(parser, path=()):
    """Every leaf subcommand's (path, parser)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for action in subs:
        for name, child in action.choices.items():
            yield from subcommands(child, (*path, name))


def contract_problems(parser, free_form, reporting) -> list[str]:
    problems = []
    leaves = dict(subcommands(parser))
    for path, sub in leaves.items():
        name = " ".join(path)
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction) or action.nargs == 0:
                continue  # flags
            enumerated = action.choices or getattr(action.type, "choices", None)
            if not enumerated and action.type not in (int, float) and (name, action.dest) not in free_form:
                problems.append(f"{name} {action.dest}: no choices and not declared free-form")
        if name in reporting and "--json" not in sub._option_string_actions:
            problems.append(f"{name}: a reporting command without --json")
    for name in reporting:
        if not any(" ".join(p) == name or " ".join(p).startswith(name + " ") for p in leaves):
            problems.append(f"{name}: listed as reporting but no such subcommand")
    return problems


def enumerated_arguments():
    parser = Command().create_parser("manage.py", "upstack")
    for path, sub in subcommands(parser):
        for action in sub._actions:
            choices = action.choices or getattr(action.type, "choices", None)
            if choices and not isinstance(action, argparse._SubParsersAction):
                yield path, action, tuple(choices)


def test_every_argument_is_enumerated_or_declared_free_form_and_every_report_has_json():
    parser = Command().create_parser("manage.py", "upstack")
    assert contract_problems(parser, FREE_FORM, arguments.REPORTING) == []


def test_the_walk_catches_a_missing_choices_and_a_missing_json():
    """Negative: a parser that breaks the contract is caught (the walk is not vacuous)."""
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="subcommand")
    restart = sub.add_parser("restart")
    restart.add_argument("service", help="postgres, redis, ...")  # enumerated, but no choices
    sub.add_parser("status")  # reporting, but no --json
    problems = contract_problems(parser, {}, ("status", "gone"))
    assert problems == ["restart service: no choices and not declared free-form",
                        "status: a reporting command without --json",
                        "gone: listed as reporting but no such subcommand"]


def test_enumerated_arguments_exist_where_the_contract_names_them():
    found = {(" ".join(path), action.dest) for path, action, _ in enumerated_arguments()}
    assert {("restart", "service"), ("render", "target"), ("backup", "action"),
            ("cache flush", "namespace"), ("up", "with_services")} <= found


@pytest.mark.parametrize("path,action,choices", list(enumerated_arguments()),
                         ids=lambda v: " ".join(v) if isinstance(v, tuple) and v and isinstance(v[0], str) and
                         len(v) < 4 else None)
def test_a_bad_value_of_any_enumerated_argument_exits_2_naming_the_valid_ones(path, action, choices):
    argv = list(path)
    if action.option_strings:
        argv += [action.option_strings[0], "nosuchvalue"]
    else:
        argv += ["nosuchvalue"]
    if path == ("render",) and action.dest != "out":
        argv += ["--out", "/nonexistent", *(["--target", "local"] if action.dest != "target" else [])]
    code, _, err = upstack(*argv)
    assert code == 2, err
    assert "nosuchvalue" in err and all(choice in err for choice in choices), err


def test_restart_an_unknown_service_names_the_services_without_a_stack(settings, tmp_path):
    settings.UPSTACK_STATE_DIR = str(tmp_path)
    code, _, err = upstack("restart", "nosuchservice")
    assert code == 2 and "invalid choice: 'nosuchservice'" in err and "redis-cache" in err


def test_a_known_service_on_a_stack_that_is_not_running_is_an_operational_failure(settings, tmp_path):
    settings.UPSTACK_STATE_DIR = str(tmp_path)
    code, _, err = upstack("restart", "app")
    assert code == 1 and "not running" in err and "upstack up" in err


def test_warming_an_edge_that_does_not_answer_is_an_operational_failure_naming_the_url():
    code, _, err = upstack("warm", "--edge", "http://127.0.0.1:1")
    assert code == 1, err
    assert "http://127.0.0.1:1/sitemap.xml" in err and "Fix:" in err
    assert "urlopen error" not in err and "Traceback" not in err


def test_warming_urls_from_a_file_against_a_dead_edge_fails_too(tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("/\n/about/\n")
    code, _, err = upstack("warm", "--edge", "http://127.0.0.1:1", "--from", str(urls), "--json")
    assert code == 1 and "no answer from the edge at http://127.0.0.1:1" in err


def test_a_warm_source_that_is_neither_known_nor_a_file_is_bad_input(tmp_path):
    code, _, err = upstack("warm", "--edge", "http://127.0.0.1:1", "--from", str(tmp_path / "nope"))
    assert code == 2 and "is not a file" in err and "access-log:PATH" in err


def test_info_json_differs_from_info_and_keeps_its_schema():
    code, human, _ = upstack("info")
    assert code == 0
    code, machine, _ = upstack("info", "--json")
    assert code == 0 and human != machine
    data = json.loads(machine)
    assert set(data) == {"version", "settings"} and "PAGE_CACHE_TTL" in data["settings"]
    with pytest.raises(ValueError):
        json.loads(human)  # the human face is a table, not JSON
    assert "PAGE_CACHE_TTL" in human and "┃" in human


def test_backup_list_and_lock_status_json_schemas(settings, tmp_path):
    settings.UPSTACK_STATE_DIR = str(tmp_path / "state")
    code, out, _ = upstack("backup", "list", "--dir", str(tmp_path), "--json")
    assert code == 0 and json.loads(out) == []
    code, out, _ = upstack("lock", "--status", "--json")
    assert code == 0 and json.loads(out) == {"held": False, "manual": False, "holder": None,
                                             "path": str(tmp_path / "state" / "deploy.lock")}


def test_tables_are_rich_tables():
    text = console.text(console.table("t", ("name", "n"), [("a", 1), ("b", None)], numeric=("n",)))
    assert "┃ name" in text and "│ b    │ - │" in text


def test_long_work_shows_a_spinner_with_the_elapsed_time_on_a_terminal():
    terminal = io.StringIO()
    terminal.isatty = lambda: True
    with console.working("restoring x.dump", file=terminal) as say:
        say("  pg_restore started")
    shown = terminal.getvalue()
    assert "restoring x.dump" in shown and "0:00:00" in shown and "pg_restore started" in shown


def test_no_spinner_when_not_a_terminal():
    pipe = io.StringIO()
    with console.working("backup", file=pipe) as say:
        say("a step")
    assert pipe.getvalue() == ""  # pipes and --json stay clean; the command prints its steps itself
