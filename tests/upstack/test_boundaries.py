"""The package stands alone: no module of ``src/upstack`` imports the reference site (at module level
or inside a function), nothing in it names the site, its module-level imports have no cycle, and the
repository cites no document outside it."""

from __future__ import annotations

from pathlib import Path

from . import importgraph

SITE = "newsroom"


def site_imports(imports) -> list[str]:
    return [f"{i.module}:{i.line} imports {i.target}" for i in imports if importgraph.top_name(i.target) == SITE]


def cycles(imports) -> list[list[str]]:
    """The import cycles among the package's modules (module-level imports only), each once."""
    graph: dict[str, set[str]] = {}
    for i in imports:
        if i.top_level and importgraph.top_name(i.target) == "upstack" and i.target != i.module:
            graph.setdefault(i.module, set()).add(i.target)
    found, seen = [], set()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    found.append([*cycle, nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_no_module_imports_the_site():
    assert site_imports(importgraph.imports()) == []


def test_nothing_in_the_package_names_the_site():
    package = importgraph.SRC / "upstack"
    named = [f"{p.relative_to(package)}:{n}" for p in sorted(package.rglob("*")) if p.is_file() and p.suffix != ".pyc"
             for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1) if SITE in line.lower()]
    assert named == []


# The design is described in docs/; code and docs cite it, never a document outside the repository.
OUTSIDE = ("BLUE" + "PRINT", "../" + "shared")
CITING = ("src", "newsroom", "bench", "tests", "docs", "scripts", "README.md", "Makefile")


def test_nothing_cites_a_document_outside_the_repository():
    root = importgraph.SRC.parent
    files = [p for top in CITING for p in ([root / top] if (root / top).is_file() else (root / top).rglob("*"))
             if p.is_file() and p.suffix not in (".pyc", ".png", ".sqlite3")]
    cited = [f"{p.relative_to(root)}:{n}" for p in files
             for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1) if any(o in line for o in OUTSIDE)]
    assert cited == []


def test_the_package_has_no_import_cycle():
    assert cycles(importgraph.imports()) == []


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in {"upstack/__init__.py": "", **files}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_the_checks_find_a_site_import_in_a_function_and_a_cycle(tmp_path):
    src = _package(tmp_path, {
        "upstack/ops/__init__.py": "",
        "upstack/ops/loadtest.py": "def urls():\n    from newsroom.news.models import Article\n",
        "upstack/a.py": "from . import b\n",
        "upstack/b.py": "from .c import thing\n",
        "upstack/c.py": "import upstack.a\n\ndef later():\n    from . import b\n",
        "upstack/d.py": "def later():\n    from . import a\n",  # function-level: no cycle
    })
    imports = importgraph.imports(src)
    assert site_imports(imports) == ["upstack.ops.loadtest:2 imports newsroom.news.models"]
    assert cycles(imports) == [["upstack.a", "upstack.b", "upstack.c", "upstack.a"]]
