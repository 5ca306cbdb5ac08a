# The two commands of the README: `make run` and `make test` (and `make bench`, the benchmarks).
# Without DATABASE_URL / REDIS_URL, embedded PostgreSQL and Redis start under .data/.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
PORT ?= 8000
FAKE_PARTNER_PORT ?= 9100
PYTEST_ARGS ?=
# make bench: BENCH=name runs one benchmark (bench/name.py), BENCH_ARGS its options, QUICK=1 small sizes.
BENCH ?=
BENCH_ARGS ?=
QUICK ?=

.DEFAULT_GOAL := help
.PHONY: help run test screenshots test-resilience test-fast lint format migrate bootstrap bench embedded-status embedded-stop clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-16s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements/base.txt requirements/dev.txt requirements/prod.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $(STAMP)

venv: $(STAMP) ## create .venv and install requirements/dev.txt

$(BENCH_STAMP): bench/requirements.txt $(STAMP)
	$(PY) -m pip install --quiet -r bench/requirements.txt
	touch $(BENCH_STAMP)

migrate: $(STAMP) ## migrate the public schema and every brand schema
	$(PY) manage.py migrate_schemas --executor=parallel

bootstrap: migrate ## migrate, then create the demo brand (brand-a.localhost); its admin password goes to .data/demo-admin.txt
	$(PY) manage.py setup_periodic_tasks
	PARTNER_URL_ALLOW_PRIVATE=$${PARTNER_URL_ALLOW_PRIVATE:-true} $(PY) manage.py bootstrap_demo --port $(PORT) --partner-port $(FAKE_PARTNER_PORT)

run: bootstrap ## run web (:8000), a Celery worker, beat and the fake partner (:9100); Ctrl-C or SIGTERM stops all (RELOAD=1: autoreload)
	PY=$(PY) PORT=$(PORT) FAKE_PARTNER_PORT=$(FAKE_PARTNER_PORT) RELOAD=$(RELOAD) DJANGO_DEBUG=$${DJANGO_DEBUG:-true} ./scripts/run_stack.sh

test: $(STAMP) ## run the test suite (pytest, --reuse-db); fails if models and migrations differ
	$(PY) manage.py makemigrations --check --dry-run > /dev/null || (echo "models changed without a migration: run makemigrations" >&2; exit 1)
	$(PY) -m pytest $(PYTEST_ARGS)

screenshots: $(STAMP) ## run the browser tests and write their screenshots into docs/crm-guide/ (the CRM guide's pictures)
	BROWSER_TEST_SCREENSHOTS=docs/crm-guide $(PY) -m pytest -m browser $(PYTEST_ARGS)

test-resilience: $(STAMP) ## reliability/security suite (tests/resilience/): fault injection, fuzzing, isolation; rewrites docs/reliability.md
	$(PY) -m pytest tests/resilience $(PYTEST_ARGS)

# bench/run.py says which bench/*.py are benchmarks (not _helpers, not partner_server/naive_pipeline);
# --migrate: first `manage.py migrate_schemas --executor=parallel`, as `make migrate`, creating
# DATABASE_URL's database when it does not exist yet (the embedded one when unset).
bench: $(BENCH_STAMP) ## migrate, run the benchmarks in bench/, sum up their RESULT lines (BENCH=name: one; BENCH_ARGS="…": its options; QUICK=1: small sizes)
	$(PY) bench/run.py --migrate $(BENCH) $(if $(QUICK),--quick) $(if $(BENCH_ARGS),--args "$(BENCH_ARGS)")

lint: $(STAMP) ## ruff check + format check + the import layers (import-linter, ADR 0011)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

format: $(STAMP) ## ruff format + autofix
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

embedded-status: $(STAMP) ## status of the embedded PostgreSQL/Redis
	$(PY) manage.py embedded status

embedded-stop: $(STAMP) ## stop the embedded PostgreSQL/Redis
	$(PY) manage.py embedded stop

clean: ## remove caches (keeps .venv and .data)
	rm -rf .pytest_cache .ruff_cache .hypothesis
