# Modelgate — the two commands of the README, plus helpers.
#   make run    set up everything on a fresh machine and serve http://127.0.0.1:8000 (+ a Celery worker)
#   make test   set up the test environment and run the whole suite
#   make test-fast  the suite without tests marked slow (fuzzers, corpus sweeps, schemathesis) or browser
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export DEBUG ?= 1
HOST ?= 127.0.0.1
PORT ?= 8000
# Two workers (this class of machine has 2 cores); a file's tests stay together on one worker.
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: run test test-fast venv deps deps-dev browser ldap-server migrate lint typecheck check bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

venv: $(BIN)/python

deps: venv
	$(BIN)/pip install --quiet -r requirements.txt

deps-dev: venv
	$(BIN)/pip install --quiet -r requirements-dev.txt

# Browser tests drive Debian's Chromium (no browser download: the app and its tests work air-gapped).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "Installing Debian's chromium for the browser tests…"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "warning: could not install chromium; browser tests will be reported as errors"; \
	fi

# LDAP sign-in tests bind to a real OpenLDAP server (Debian's slapd, started by the tests on a free port).
ldap-server:
	@if [ ! -x /usr/sbin/slapd ]; then \
	  echo "Installing Debian's slapd for the LDAP sign-in tests…"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slapd >/dev/null) || \
	  echo "warning: could not install slapd; LDAP tests will be reported as errors"; \
	fi

migrate: deps
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput

run: migrate
	@$(BIN)/python manage.py ensure_admin
	@if [ ! -f var/.demo-loaded ]; then $(BIN)/python manage.py seed_demo && touch var/.demo-loaded; fi
	@echo "Starting a Celery worker (with beat) and the web server on http://$(HOST):$(PORT)/ — Ctrl-C stops both."
	@trap 'kill 0' EXIT INT TERM; \
	  $(BIN)/celery -A governance worker --beat --loglevel=INFO --concurrency=2 \
	    --schedule=var/celerybeat-schedule >var/celery.log 2>&1 & \
	  $(BIN)/python manage.py runserver $(HOST):$(PORT)

# The whole suite exercises real services: without DATABASE_URL / CELERY_BROKER_URL it uses the
# PostgreSQL and Redis on 127.0.0.1 when they answer (as CI does); the fault suite needs both.
LOCAL_PG := postgres://postgres@127.0.0.1:5432/modelgate
LOCAL_REDIS := redis://127.0.0.1:6379/15
test: deps-dev browser ldap-server
	@db="$${DATABASE_URL:-}"; broker="$${CELERY_BROKER_URL:-}"; \
	if [ -z "$$db" ] && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then db="$(LOCAL_PG)"; fi; \
	if [ -z "$$broker" ] && (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then broker="$(LOCAL_REDIS)"; fi; \
	echo "make test: database $${db:-SQLite}, broker $${broker:-filesystem}"; \
	if [ -n "$$db" ]; then export DATABASE_URL="$$db"; fi; \
	if [ -n "$$broker" ]; then export CELERY_BROKER_URL="$$broker"; fi; \
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# What CI runs is `make test` (everything); this is the quick loop while developing.
test-fast: deps-dev ldap-server
	$(BIN)/python -m pytest $(PYTEST_ARGS) -m "not slow and not browser"

lint: deps-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: deps-dev
	$(BIN)/mypy .

check: deps-dev
	$(BIN)/python manage.py makemigrations --check --dry-run
	DEBUG=0 SECRET_KEY=$$($(BIN)/python -c "import secrets; print(secrets.token_urlsafe(50))") ALLOWED_HOSTS=modelgate.example.com \
	  $(BIN)/python manage.py check --deploy --fail-level WARNING

clean:
	rm -rf var/broker var/celery.log staticfiles
