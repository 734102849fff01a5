# relief: `make run` serves the seeded API; `make test` runs the whole suite.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# PostgreSQL server the tests create their own fresh databases on ("none" = SQLite only).
RELIEF_TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres
export RELIEF_TEST_DATABASE_URL
# pytest-xdist processes the suite is spread over (the machines and CI have 2 cores; 0: one
# process). Each has its own databases, SQLite files, ports and browser.
TEST_WORKERS ?= 2

.PHONY: setup run test lint bench check clean browser-deps

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

run: setup
	$(BIN)/relief db upgrade
	$(BIN)/relief seed --if-empty
	$(BIN)/relief demo-tokens
	$(BIN)/relief serve

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# The console's browser tests need Debian's chromium and a CJK font: installed when missing.
browser-deps:
	bash .ci/browser-deps

test: lint browser-deps
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal

bench: setup
	$(BIN)/python -m bench

check: setup
	$(BIN)/relief check

clean:
	rm -rf $(VENV) relief.db relief.db-wal relief.db-shm .pytest_cache
