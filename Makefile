# The two commands of the README, and the developer loop behind `make test`.
#   make demo   - run the main job (the demo) on the embedded default
#   make test   - lint, type-check and run every test (starts a real Kafka broker itself)
# Both create .venv and install what they need on first use; afterwards they reuse it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck unit integration bench clean browser

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Pedigree needs Python 3.11+; set PYTHON=/path/to/python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

demo: $(STAMP)
	$(BIN)/pedigree demo $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --no-cache --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -m "not integration" $(ARGS)

integration: $(STAMP)
	$(BIN)/pytest -m integration $(ARGS)

test: lint typecheck browser
	$(BIN)/pytest $(ARGS)

# The explorer's browser tests drive Debian's headless Chromium (never a browser Playwright
# downloads): installed here when missing; if it still is not there, those tests skip saying so.
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } \
		|| echo "make: could not install chromium: the explorer's browser tests will be skipped"

bench: $(STAMP)
	$(BIN)/python bench/codec_bench.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache pedigree-demo
