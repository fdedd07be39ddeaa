# The two commands: `make run` (a working server with demo users) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

# What the tests talk to: PostgreSQL and Redis on this machine (see .ci/run).
TEST_ENV := DATABASE_URL=$${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/parley} \
	REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/0} \
	SECRET_KEY=parley-test-secret CHAT_SECRET_KEY=parley-test-usersig-key \
	CHAT_SDKAPPID=1400000001 DEBUG=0

.PHONY: run test install lint bench bench-compare clean screenshots

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --url http://$(HOST):$(PORT)
	DEBUG=$${DEBUG:-1} $(VENV)/bin/uvicorn chat_project.asgi:application --host $(HOST) --port $(PORT) \
		--ws-max-size 262144 --ws chat_project.wsprotocol:Protocol

test: install
	$(VENV)/bin/ruff check .
	$(TEST_ENV) $(VENV)/bin/pytest -n $${PYTEST_WORKERS:-2} $(PYTEST_ARGS)

# The README's pictures of the web UI, made by a browser test (tests/web/test_screenshots.py).
screenshots: install
	$(TEST_ENV) PARLEY_SCREENSHOT_DIR=docs/screenshots $(VENV)/bin/pytest -p no:cacheprovider -q \
		tests/web/test_screenshots.py

lint: install
	$(VENV)/bin/ruff check .

bench: install
	$(TEST_ENV) $(PY) bench/run.py $(BENCH_ARGS)

bench-compare: install
	$(TEST_ENV) $(PY) bench/compare.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache media staticfiles db.sqlite3*
