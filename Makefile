# The README's commands: `make run` serves the embedded default, `make test` runs the suite
# (`make test-fast`: all but its slow tiers).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8288
# `make run` is local development: INNGEST_DEV=1 apps sync into the first organization's
# Development environment, as with Inngest's dev server on this same port.
DEV_MODE_ENVIRONMENT ?= first

# The tiers `make test-fast` leaves out (markers set in tests/conftest.py): what starts real SDK
# apps, Chromium or Celery workers, or kills and restarts services.
SLOW_MARKERS := browser or sdk or celery or chaos

.PHONY: run test test-fast bench lint secrets

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

# Local secrets for the embedded default; production passes them through the environment.
secrets:
	@mkdir -p var
	@test -s var/secret_key || (umask 077; $(PY) -c 'import secrets; print(secrets.token_urlsafe(50))' > var/secret_key)
	@test -s var/encryption_key || (umask 077; $(PY) -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())' > var/encryption_key)

run: $(VENV)/.installed secrets
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py collectstatic --noinput -v0
	DEV_MODE_ENVIRONMENT=$(DEV_MODE_ENVIRONMENT) $(PY) manage.py serve --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-test
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(VENV)/.installed-test
	$(PY) -m pytest -m "not ($(SLOW_MARKERS))" $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(VENV)/.installed-test secrets
	$(PY) -m bench $(BENCH_ARGS)
