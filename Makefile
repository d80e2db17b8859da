# upstack - the two commands a newcomer needs are `make run` and `make test`.
PORT ?= 8000
PY := .venv/bin/python
MANAGE := $(PY) manage.py
export DJANGO_SETTINGS_MODULE ?= newsroom.settings.dev

.PHONY: help install services run test test-containers drill-hosts stack stack-down bench bench-quick lint clean

help:
	@echo "make run          set up and serve the newsroom at http://127.0.0.1:$(PORT) (SQLite, no servers)"
	@echo "make test         set up and run the whole test suite against real servers"
	@echo "make test-containers  the Compose target brought up for real in Docker (part of make test)"
	@echo "make drill-hosts  six hosts in network namespaces, five failure drills, a JSON summary (root; part of make test)"
	@echo "make stack        run the whole stack (PostgreSQL, Redis, Varnish, gunicorn, Celery) on loopback"
	@echo "make stack-down   stop it"
	@echo "make bench        the side-by-side benchmark (long); make bench-quick: the CI-sized one"
	@echo "make lint         ruff"

install:
	@scripts/bootstrap

services:
	@scripts/install-services --if-missing

run: install
	@$(MANAGE) migrate --noinput -v 0
	@$(MANAGE) seed --articles 3000 --users 200 --comments 20000 --seed 1 --if-empty
	@$(MANAGE) demo_user --url http://127.0.0.1:$(PORT)
	@echo "Serving the newsroom at http://127.0.0.1:$(PORT)/  (Ctrl-C stops it)"
	@exec .venv/bin/gunicorn newsroom.wsgi:application --bind 127.0.0.1:$(PORT) \
		--workers 2 --threads 4 --access-logfile - --graceful-timeout 5

# The package's unit tests that need no running stack, and the second reference site's smoke test (sites/shelf):
# the second pass of `make test` runs them on Django 6.0
# (Django's own cache tests against upstack's backends included, ~3.5 min); the no-extras venv it builds gets
# the newest Django 6.
DJANGO6_TESTS := tests/upstack/cache tests/upstack/edge tests/upstack/page tests/upstack/metrics tests/upstack/checks \
	tests/upstack/test_templatetags.py tests/upstack/test_optional_deps.py tests/upstack/ops/test_loadtest.py \
	tests/upstack/db/test_routing.py tests/upstack/db/test_configure.py \
	tests/shelf/test_shelf.py

# The whole suite on SQLite (with the fuzz test and the fault drill, whose table it prints - docs/security.md),
# then the newsroom and query-cache tests on a real PostgreSQL (tests/servers.py), then the package's unit
# tests again on Django 6.0 under Python 3.12/3.13 (.venv-django6, scripts/django6-venv), then the quick
# benchmark, which fails when the run is invalid or a ratio regresses (its files go to var/bench/ci, not the
# tree; its stack gets its own state folder there, never one someone left up).
test: install services
	@rm -f var/drill/latest.md
	@DJANGO_SETTINGS_MODULE=newsroom.settings.test $(PY) -m pytest $(PYTEST_ARGS)
	@if [ -f var/drill/latest.md ]; then echo "== the fault drill (docs/security.md) =="; cat var/drill/latest.md; fi
	@echo "== the newsroom's tests again, on a real PostgreSQL =="
	@DJANGO_SETTINGS_MODULE=newsroom.settings.test $(PY) -m tests.servers run postgres -- \
		$(PY) -m pytest -q -p no:cacheprovider tests/newsroom tests/upstack/test_query_cache.py
	@echo "== the package's unit tests on Django 6 (.venv-django6) =="
	@scripts/django6-venv
	@DJANGO_SETTINGS_MODULE=newsroom.settings.test .venv-django6/bin/python -m pytest -q -p no:cacheprovider \
		$(DJANGO6_TESTS)
	@echo "== the quick side-by-side benchmark (bench/baseline-quick.json) =="
	@mkdir -p var/bench/ci && $(PY) -m bench.run --quick --out var/bench/ci --state-dir var/bench/ci/stack \
		> var/bench/ci/report.txt || \
		{ cat var/bench/ci/report.txt; echo "make test: the quick benchmark failed (see above)"; exit 1; }
	@sed -n '/^## Goals/,/^## anonymous/p' var/bench/ci/report.txt | head -n -1
	@$(MAKE) --no-print-directory test-containers

# The Compose target brought up for real (docs/deploy.md): Docker from Debian, dockerd started by hand and
# stopped afterwards, images built FROM a cached debootstrap base; prints each stage's time. Skips with the
# reason when Docker cannot be installed here (fails under CI=true).
test-containers: install
	@echo "== the Compose target, brought up for real (tests/upstack/stack/test_containers.py) =="
	@UPSTACK_TEST_CONTAINERS=1 DJANGO_SETTINGS_MODULE=newsroom.settings.test $(PY) -m pytest -q -s -rs \
		-p no:cacheprovider tests/upstack/stack/test_containers.py

# Six simulated hosts (network namespaces) rendered from an inventory, five failure drills through the
# load balancer, a JSON summary (tests/drill_hosts.py, docs/scaling.md); root only, < 10 min. `make test`
# runs it through tests/test_drill_hosts.py (marked drill_hosts: deselect with PYTEST_ARGS="-m 'not drill_hosts'").
drill-hosts: install services
	@DJANGO_SETTINGS_MODULE=newsroom.settings.dev $(PY) -m tests.drill_hosts

# The stack's Django processes run the deploy profile; `upstack up` itself runs with the dev one (it
# generates the stack's SECRET_KEY, so it cannot need one).
stack: install services
	@$(MANAGE) upstack up --stack-settings newsroom.settings.deploy

stack-down: install
	@$(MANAGE) upstack down

bench: install services
	@$(PY) -m bench.run --full

bench-quick: install services
	@$(PY) -m bench.run --quick

lint: install
	@.venv/bin/ruff check src newsroom sites tests bench

clean:
	rm -rf .venv .venv-django6 var .upstack .pytest_cache
