"""Django's own cache tests, run against upstack's backends (docs/caching.md: "with the server up,
every operation behaves exactly as Django's backend does").

The tests come from the source distribution of the installed Django version (``pip download
--no-binary :all:``; it holds ``tests/`` and ``runtests.py``), kept in ``var/django-src/``. Django's
runner uses ``tests/django_suite/upstack_cache_settings.py``, which builds Django's ``LocMemCache``,
``RedisCache`` and ``PyMemcacheCache`` as upstack's classes without editing any Django test. Redis and
memcached are real servers on free loopback ports, started for this module (Django's tests flush
them). A control run with Django's own classes gives the skips that Django itself makes: upstack's
run may skip nothing more.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import django
import pytest

from tests import servers

pytestmark = [pytest.mark.servers, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
SOURCES = ROOT / "var" / "django-src"
HARNESS = ROOT / "tests" / "django_suite"
CACHE_LABELS = ["cache"]
DEFAULT_ALIAS_LABELS = ["sessions_tests", "template_tests.syntax_tests.test_cache"]
BACKEND_TESTS = {"locmem": "cache.tests.LocMemCacheTests", "redis": "cache.tests.RedisCacheTests",
                 "memcached": "cache.tests.PyMemcacheCacheTests"}
UPSTACK_CLASSES = {
    "django.core.cache.backends.locmem.LocMemCache": "upstack.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.redis.RedisCache": "upstack.cache.backends.redis.RedisCache",
    "django.core.cache.backends.memcached.PyMemcacheCache": "upstack.cache.backends.memcached.PyMemcacheCache",
}
# "test_x (cache.tests.Class.test_x)", maybe a docstring line, then " ... status" (runtests -v 2).
RESULT = re.compile(r"^\w+ \(([\w.]+)\)(?:\n[^\n]*?)?(?:\n| )\.\.\. (ok|FAIL|ERROR|skipped.*|expected failure|"
                    r"unexpected success)$", re.MULTILINE)


def django_tests_dir() -> Path:
    """``tests/`` of the installed Django's source distribution, downloaded once."""
    version = django.__version__
    tests_dir = SOURCES / f"django-{version}" / "tests"
    if (tests_dir / "runtests.py").exists():
        return tests_dir
    SOURCES.mkdir(parents=True, exist_ok=True)
    archive = SOURCES / f"django-{version}.tar.gz"
    if not archive.exists():
        done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                               "--no-binary", ":all:", "--no-deps", f"django=={version}", "-d", str(SOURCES)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(f"could not download Django {version}'s source distribution from PyPI:\n{done.stderr}")
    with tarfile.open(archive) as tar:
        tar.extractall(SOURCES, filter="data")
    return tests_dir


@dataclass
class Run:
    returncode: int
    output: str
    results: dict[str, str]  # test id -> ok / FAIL / ERROR / skipped '...' / expected failure
    built: dict[str, set[str]]  # Django backend path -> classes actually built for it

    def of(self, prefix: str) -> dict[str, str]:
        return {test: status for test, status in self.results.items() if test.startswith(prefix + ".")}

    def skipped(self) -> set[str]:
        return {test for test, status in self.results.items() if status.startswith("skipped")}

    def problems(self) -> str:
        bad = [f"{status}: {test}" for test, status in self.results.items() if status in ("FAIL", "ERROR")]
        return "\n".join(bad) + "\n" + self.output[-6000:]


def run_django_tests(tests_dir: Path, labels: list[str], tmp: Path, *, swap: bool, default: str,
                     redis, memcached) -> Run:
    log = tmp / f"built-{'upstack' if swap else 'django'}-{default}-{len(labels)}.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HARNESS), str(ROOT / "src")]),
           "UPSTACK_SUITE_LOG": str(log), "UPSTACK_SUITE_SWAP": "1" if swap else "0",
           "UPSTACK_SUITE_DEFAULT": default, "UPSTACK_SUITE_REDIS": f"redis://127.0.0.1:{redis.port}",
           "UPSTACK_SUITE_MEMCACHED": memcached.location}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run([sys.executable, "runtests.py", "--settings=upstack_cache_settings", "--parallel", "1",
                           "-v", "2", *labels], cwd=tests_dir, env=env, capture_output=True, text=True, timeout=900)
    output = done.stdout + done.stderr
    built: dict[str, set[str]] = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        backend, cls = line.split("\t")
        built.setdefault(backend, set()).add(cls)
    return Run(done.returncode, output, dict(RESULT.findall(output)), built)


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """``suite(labels, swap=True, default="locmem")``: one run of Django's runner, memoised."""
    servers.require_binary("redis-server")
    servers.require_binary("memcached")
    tests_dir = django_tests_dir()
    tmp = tmp_path_factory.mktemp("django-suite")
    redis, memcached = servers.Redis().start(), servers.Memcached().start()
    runs: dict[tuple, Run] = {}

    def run(labels, *, swap=True, default="locmem") -> Run:
        key = (tuple(labels), swap, default)
        if key not in runs:
            runs[key] = run_django_tests(tests_dir, labels, tmp, swap=swap, default=default, redis=redis,
                                         memcached=memcached)
        return runs[key]

    yield run
    memcached.stop()
    redis.stop()


def test_the_cache_suite_passes_on_upstacks_backends(suite):
    run = suite(CACHE_LABELS)
    assert run.returncode == 0, run.problems()
    for backend, prefix in BACKEND_TESTS.items():
        results = run.of(prefix)
        passed = sum(status == "ok" for status in results.values())
        print(f"Django {django.__version__} {prefix}: {passed} passed, {len(results) - passed} other")
        assert passed >= 50, f"{backend}: only {passed} of Django's tests ran and passed: {results}"


def test_upstacks_classes_are_the_ones_that_ran(suite):
    """The sanity test: Django's backends were built as upstack's (and, in the control, as Django's)."""
    ours, control = suite(CACHE_LABELS), suite(CACHE_LABELS, swap=False)
    for django_path, upstack_path in UPSTACK_CLASSES.items():
        assert ours.built.get(django_path) == {upstack_path}, ours.built
        assert control.built.get(django_path) == {django_path}, control.built


def test_nothing_is_skipped_beyond_what_django_skips(suite):
    ours, control = suite(CACHE_LABELS), suite(CACHE_LABELS, swap=False)
    assert control.returncode == 0, "Django's own backends fail Django's tests here:\n" + control.problems()
    assert set(ours.results) == set(control.results)
    assert ours.skipped() == control.skipped(), {"only upstack skips": ours.skipped() - control.skipped()}


@pytest.mark.parametrize("backend", ["locmem", "redis", "memcached"])
def test_sessions_and_the_cache_tag_on_each_backend(suite, backend):
    """Django's session tests (cache and cached_db engines) and ``{% cache %}`` tests with the default
    alias on each upstack backend, against the same run with Django's class."""
    ours = suite(DEFAULT_ALIAS_LABELS, default=backend)
    control = suite(DEFAULT_ALIAS_LABELS, swap=False, default=backend)
    assert ours.returncode == 0, ours.problems()
    assert control.returncode == 0, control.problems()
    assert set(ours.results) == set(control.results) and ours.skipped() == control.skipped()
    assert sum(status == "ok" for test, status in ours.results.items() if "Cache" in test) >= 50
    django_path = next(path for path, upstack in UPSTACK_CLASSES.items() if backend in upstack.lower())
    assert ours.built[django_path] == {UPSTACK_CLASSES[django_path]}
