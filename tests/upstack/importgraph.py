"""The import statements of the package's modules, read with ``ast`` (nothing is imported): what each
module of ``src/upstack`` imports, at module level or inside a function. Used by the tests of the
package's boundaries (tests/upstack/test_boundaries.py, tests/upstack/test_optional_deps.py)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
# Rendered configuration templates (gunicorn.conf.py is one) are not modules of the package.
SKIP = ("upstack/stack/templates/",)


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. "upstack.edge.purge"
    target: str  # the imported module, absolute, e.g. "upstack.tasks.queue" or "celery.signals"
    line: int
    top_level: bool  # executed on import (not inside a function or method)


def modules(src: Path = SRC) -> dict[str, Path]:
    found = {}
    for path in sorted((src / "upstack").rglob("*.py")):
        relative = path.relative_to(src).as_posix()
        if relative.startswith(SKIP):
            continue
        parts = relative[:-3].split("/")
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    if not level:
        return name or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _visit(node, module: str, is_package: bool, known: dict, top_level: bool, found: list) -> None:
    for child in ast.iter_child_nodes(node):
        inner = top_level and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        if isinstance(child, ast.Import):
            found.extend(Import(module, alias.name, child.lineno, top_level) for alias in child.names)
        elif isinstance(child, ast.ImportFrom):
            target = _resolve(module, is_package, child.level, child.module)
            # "from package import name": name may be a submodule.
            subs = [f"{target}.{a.name}" for a in child.names if f"{target}.{a.name}" in known]
            found.extend(Import(module, t, child.lineno, top_level) for t in subs or [target])
        _visit(child, module, is_package, known, inner, found)


def imports(src: Path = SRC) -> list[Import]:
    known = modules(src)
    found: list[Import] = []
    for module, path in known.items():
        _visit(ast.parse(path.read_text(), str(path)), module, path.name == "__init__.py", known, True, found)
    return found


def top_name(target: str) -> str:
    return target.split(".")[0]
