# One virtualenv under .venv, made on first use from pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench browser clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/returns-ledger db init
	CREATE_TABLE=no $(BIN)/gunicorn --bind 127.0.0.1:8000 --workers 2 --no-control-socket wsgi:app

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
