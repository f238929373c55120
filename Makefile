# One virtualenv under .venv, made on first use from pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Where `make run` and `make demo` listen: `make run PORT=8080`, `make run HOST=0.0.0.0`.
HOST ?= 127.0.0.1
PORT ?= 8000
# The demo's own store, apart from the one `make run` serves.
DEMO_DIR ?= var/demo

.PHONY: run demo test lint bench browser clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# Prints the URL, the docs and web links and how to make the first key, then serves.
run: $(BIN)/.installed
	$(BIN)/returns-ledger db init
	$(BIN)/returns-ledger serve --host $(HOST) --port $(PORT)

# A store of its own filled with weeks of parcels on every platform, an admin key, served.
demo: $(BIN)/.installed
	mkdir -p $(DEMO_DIR)
	SQLITE_DBNAME=$(DEMO_DIR)/ledger.sqlite3 $(BIN)/returns-ledger db init
	SQLITE_DBNAME=$(DEMO_DIR)/ledger.sqlite3 $(BIN)/returns-ledger demo --serve \
		--host $(HOST) --port $(PORT)

test: $(BIN)/.installed browser lint
	$(BIN)/python -m pytest

# Lint and types (settings in pyproject.toml).
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy

# Headless Chromium from Debian's packages for the web page tests (tests/web/); only as
# root where apt-get exists: elsewhere those tests skip loudly (and fail in CI).
browser:
	@command -v chromium >/dev/null || ! command -v apt-get >/dev/null || [ "$$(id -u)" != 0 ] \
		|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		    apt-get install -y -qq chromium chromium-driver >/dev/null)

# Every scenario with its baselines; BENCH_ARGS=--smoke (tiny) or --full (adds 1M-event rebuild).
bench: $(BIN)/.installed
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
