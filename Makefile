# oms_notify — the two commands a newcomer needs:
#   make demo   zero-setup demo on SQLite: venv, install, migrate, demo data, http://127.0.0.1:8000
#   make test   lint and the whole suite against the local PostgreSQL and Redis
# Also: make lint, make bench-api, make bench (BENCHMARKS.md).

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
# Prefer the Python the project is pinned to (3.11), else whatever python3 is.
BOOTSTRAP_PYTHON ?= $(shell command -v python3.11 || command -v python3)

# The suite's PostgreSQL (tests/settings.py picks the Redis databases). Override in the environment.
TEST_DATABASE_URL ?= $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/oms_notify)
PG_HOST ?= 127.0.0.1
PG_PORT ?= 5432
REDIS_HOST ?= 127.0.0.1
REDIS_PORT ?= 6379
# Extra pytest arguments, e.g. make test PYTEST_ARGS="-k lifecycle -x"
PYTEST_ARGS ?=
# pytest-xdist workers: the suite is clean under -n 2 (each worker gets its own test database and,
# from tests/settings.py, its own Redis database). PYTEST_WORKERS= runs it in one process.
PYTEST_WORKERS ?= 2

# The demo is the zero-setup default: SQLite in var/, tasks in-process, no secret key needed.
# .env is not read, so a developer's production-like .env can never receive demo logins.
DEMO_PORT ?= 8000
DEMO_ENV := env -u DATABASE_URL -u CELERY_BROKER_URL -u CELERY_TASK_ALWAYS_EAGER -u CACHE_URL \
	DJANGO_DEBUG=true DJANGO_READ_DOT_ENV_FILE=false SITE_URL=http://127.0.0.1:$(DEMO_PORT)

.PHONY: help demo test lint bench-api check-services check-chromium clean-demo

help:
	@echo "make demo       run the demo on http://127.0.0.1:8000 (SQLite, demo data, printed logins)"
	@echo "make test       ruff + the whole test suite on PostgreSQL and Redis"
	@echo "make lint       ruff check and format check"
	@echo "make bench-api  measure API latency (bench/api_latency.py)"
	@echo "make chaos      fault injection: 10,000 signed carrier events, worker kills, a Redis restart (docs/chaos.md)"
	@echo "make bench      every benchmark, one report: BENCHMARKS.md (BENCH_QUICK=1: small sizes)"
	@echo "make fuzz       long fuzzing run: schemathesis on the API, hypothesis on every adapter"

# --- virtualenv: created once, re-installed only when a requirements file changes -----------
$(PY):
	$(BOOTSTRAP_PYTHON) -m venv $(VENV)

$(VENV)/.runtime-installed: requirements.txt | $(PY)
	@echo "Installing requirements.txt into $(VENV) ..."
	$(PIP) -r requirements.txt
	@touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(PY)
	@echo "Installing requirements-dev.txt into $(VENV) ..."
	$(PIP) -r requirements-dev.txt
	@touch $@ $(VENV)/.runtime-installed

# --- make demo -------------------------------------------------------------------------------
demo: $(VENV)/.runtime-installed
	@mkdir -p var
	$(DEMO_ENV) $(PY) manage.py migrate --no-input -v 0 --skip-checks
	$(DEMO_ENV) $(PY) manage.py seed_demo --reset-passwords --skip-checks
	$(DEMO_ENV) $(PY) manage.py seed_kpi_demo --skip-checks
	@echo
	@echo "Serving the demo on http://127.0.0.1:$(DEMO_PORT)/admin/ (log in with the admin login above). Ctrl-C stops it."
	$(DEMO_ENV) $(PY) manage.py runserver 127.0.0.1:$(DEMO_PORT)

clean-demo:
	rm -f var/db.sqlite3

# --- make test -------------------------------------------------------------------------------
# Is PostgreSQL answering (an SSLRequest gets 'S' or 'N' back) and Redis (PING gets +PONG)?
# Plain bash, so it needs neither pg_isready nor redis-cli nor the venv.
define CHECK_SERVICES
pg_ok() { timeout 3 bash -c 'exec 3<>/dev/tcp/$(PG_HOST)/$(PG_PORT) && printf "\x00\x00\x00\x08\x04\xd2\x16\x2f" >&3 && IFS= read -r -n1 reply <&3 && [[ $$reply == [SN] ]]' 2>/dev/null; }
redis_ok() { timeout 3 bash -c 'exec 3<>/dev/tcp/$(REDIS_HOST)/$(REDIS_PORT) && printf "PING\r\n" >&3 && IFS= read -r reply <&3 && [[ $$reply == +PONG* ]]' 2>/dev/null; }
status=0
if ! pg_ok; then
  status=1
  echo "PostgreSQL does not answer on $(PG_HOST):$(PG_PORT). Start it, e.g.:" >&2
  echo "  pg_ctlcluster --skip-systemctl-redirect \$$(ls /etc/postgresql) main start   # Debian" >&2
  echo "  docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:15   # anywhere" >&2
fi
if ! redis_ok; then
  status=1
  echo "Redis does not answer on $(REDIS_HOST):$(REDIS_PORT). Start it, e.g.:" >&2
  echo "  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no" >&2
  echo "  docker run -d -p 6379:6379 redis:7" >&2
fi
exit $$status
endef
export CHECK_SERVICES

check-services:
	@bash -c "$$CHECK_SERVICES"

# The browser tests drive Debian's chromium through Playwright (which cannot download its own).
CHROMIUM ?= /usr/bin/chromium
check-chromium:
	@test -x $(CHROMIUM) || { echo "Installing Debian's chromium for the browser tests ..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: $(VENV)/.dev-installed check-services check-chromium
	$(VENV)/bin/ruff check .
	@# tests/settings.py gives each pytest-xdist worker its own Redis database (10, 11, ...).
	DATABASE_URL=$(TEST_DATABASE_URL) $(VENV)/bin/pytest --create-db -q $(if $(PYTEST_WORKERS),-n $(PYTEST_WORKERS)) $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Uses only the server of DATABASE_URL: it makes (and drops) a scratch database. BENCH_ARGS="--requests 300"
bench-api: $(VENV)/.dev-installed check-services
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) bench/api_latency.py $(BENCH_ARGS)

# The benchmark suite (bench/suite/run.py): scratch databases on the server of DATABASE_URL, a
# redis-server of its own on a free port, gunicorn, Celery workers, wrk; writes BENCHMARKS.md and
# bench/results/latest.json. Full: about an hour on 2 cores. BENCH_QUICK=1: small sizes, minutes.
BENCH_QUICK ?=
# Runs per figure (the median is reported): 3 by default, 1 with BENCH_QUICK=1.
BENCH_RUNS ?=
# More options of bench/suite/run.py, e.g. BENCH_SUITE_ARGS="--only ingest,tracking --spike-events 5000"
BENCH_SUITE_ARGS ?=
.PHONY: bench check-bench-tools
check-bench-tools:
	@command -v wrk >/dev/null || { echo "Installing Debian's wrk for the benchmarks ..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	@command -v redis-server >/dev/null || { echo "Installing Debian's redis-server for the benchmarks ..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }

bench: $(VENV)/.dev-installed check-services check-bench-tools
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) bench/suite/run.py $(if $(BENCH_QUICK),--quick) \
		$(if $(BENCH_RUNS),--runs $(BENCH_RUNS)) $(BENCH_SUITE_ARGS)

# A longer fuzzing campaign than the suite's (tests/fuzz): schemathesis over every API operation and
# hypothesis over every carrier and source adapter. Still derandomized: raise the counts to go deeper.
FUZZ_API_CASES ?= 20000
FUZZ_EXAMPLES ?= 1000
.PHONY: fuzz
fuzz: $(VENV)/.dev-installed check-services
	DATABASE_URL=$(TEST_DATABASE_URL) FUZZ_API_CASES=$(FUZZ_API_CASES) FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
		$(VENV)/bin/pytest --create-db -q $(if $(PYTEST_WORKERS),-n $(PYTEST_WORKERS)) tests/fuzz $(PYTEST_ARGS)

# The chaos run (docs/chaos.md): a scratch database on the server of DATABASE_URL, a redis-server of
# its own (restarted on purpose), gunicorn, two Celery workers (SIGKILLed on purpose), failing fake
# providers; writes var/chaos/chaos-report.{md,json} and exits non-zero when an invariant fails.
# CHAOS_ARGS="--events 2000 --orders 200" for a shorter run.
CHAOS_ARGS ?=
.PHONY: chaos
chaos: $(VENV)/.dev-installed
	@command -v redis-server >/dev/null || { echo "Installing Debian's redis-server for the chaos run ..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) -m chaos $(CHAOS_ARGS)
