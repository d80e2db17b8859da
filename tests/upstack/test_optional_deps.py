"""Optional dependencies are optional: each extra is imported by one module of the package, and the
package's core works in a venv where none is installed (tests/noextras/core_checks.py, run there)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from . import importgraph

ROOT = Path(__file__).resolve().parents[2]
# Each extra's top-level import names, and the one module allowed to import them.
EXTRAS = {
    "celery": ({"celery", "kombu"}, "upstack.tasks.app"),
    "metrics": ({"prometheus_client"}, "upstack.metrics.prometheus"),
    "sentry": ({"sentry_sdk"}, "upstack.metrics.sentry"),
    "s3": ({"storages", "boto3", "botocore"}, None),  # configured by settings only: no module imports it
    # the loadtest extra: Locust only in the locustfile that Locust itself runs (the package never imports
    # it), matplotlib only where the charts are drawn
    "loadtest (locust)": ({"locust"}, "upstack.ops.locustfile"),
    "loadtest (charts)": ({"matplotlib"}, {"upstack.ops.loadtest", "upstack.ops.dashboard"}),  # where charts are drawn
}


def importers(imports) -> dict[str, set[str]]:
    """{extra: modules that import it}."""
    found = defaultdict(set)
    for imp in imports:
        for extra, (names, _) in EXTRAS.items():
            if importgraph.top_name(imp.target) in names:
                found[extra].add(imp.module)
    return found


def test_each_extra_is_imported_by_its_one_module():
    found = importers(importgraph.imports())
    for extra, (_, owner) in EXTRAS.items():
        allowed = owner if isinstance(owner, set) else {owner}
        assert found[extra] <= allowed, f"the {extra} extra is imported outside {owner}: {sorted(found[extra])}"


def test_the_package_never_imports_its_locustfile():
    """Only Locust runs upstack.ops.locustfile; importing it would need the loadtest extra."""
    assert [i.module for i in importgraph.imports() if i.target.startswith("upstack.ops.locustfile")] == []


def test_the_rule_sees_an_import_inside_a_function(tmp_path):
    """The check above on a package where a second module imports Celery inside a function."""
    package = tmp_path / "upstack"
    (package / "tasks").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "tasks" / "__init__.py").write_text("")
    (package / "tasks" / "app.py").write_text("from celery import Celery\n")
    (package / "purge.py").write_text("def dispatch():\n    from celery import current_app\n")
    found = importers(importgraph.imports(tmp_path))
    assert found["celery"] == {"upstack.tasks.app", "upstack.purge"}


def _core_venv() -> Path:
    """A venv with ``pip install -e .`` (no extras) and pytest, under var/, reused while pyproject.toml
    and the Python version are the same."""
    python_version = "py{}.{}".format(*sys.version_info)
    key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + sys.version.encode()).hexdigest()[:12]
    venv = ROOT / "var" / "noextras" / f"{python_version}-{key}"
    python = venv / "bin" / "python"
    if (venv / ".complete").exists():
        return venv
    for old in venv.parent.glob(f"{python_version}-*"):  # older keys of this Python (the Django 6 pass has its own)
        shutil.rmtree(old, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    done = subprocess.run([*pip, "-e", str(ROOT), "pytest>=8", "pytest-django>=4.8"], capture_output=True,
                          text=True, cwd=ROOT)
    if done.returncode:
        pytest.fail(f"could not install the package without extras:\n{done.stdout}\n{done.stderr}")
    (venv / ".complete").touch()
    return venv


@pytest.mark.slow
def test_the_core_works_without_any_extra():
    venv = _core_venv()
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--ds", "tests.noextras.settings", "tests/noextras/core_checks.py"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout, done.stdout[-2000:]


def test_without_celery_new_images_wait_for_their_first_view(monkeypatch):
    """Thumbnails are enqueued after a save that sets a new image; without Celery nothing is enqueued
    (``images.url`` makes each one when a page first shows it)."""
    from django.db.models.signals import post_init, post_save

    import upstack.tasks
    from tests.inheritance_app.models import Category
    from upstack import images

    enqueued = []
    monkeypatch.setattr(upstack.tasks, "enqueue_on_commit", lambda *args: enqueued.append(args))
    images.register(Category, "image")  # a stand-in: the receiver only reads the attribute's name
    try:
        category = Category(pk=1, name="c")
        for installed, name in ((True, "a.jpg"), (False, "b.jpg")):
            monkeypatch.setattr(upstack.tasks, "celery_installed", lambda installed=installed: installed)
            category.image = type("Image", (), {"name": name})()
            post_save.send(sender=Category, instance=category, raw=False)
    finally:
        uid = "upstack.images.inheritance_app.category.image"
        post_init.disconnect(sender=Category, dispatch_uid=uid + ".init")
        post_save.disconnect(sender=Category, dispatch_uid=uid + ".save")
    assert enqueued == [("upstack.thumbnails", "inheritance_app", "category", 1, "image")]
