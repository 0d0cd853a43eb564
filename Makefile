# Entry points for people and CI. `make demo` and `make test` are the two commands a newcomer needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CODE := $(wildcard settings.py __main__.py components harness pipelines monitoring cost_estimate benchmarks bootstrap docs/*.py tests)

.PHONY: help venv lint typecheck test test-unit bench clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# The venv is rebuilt only when a requirements file changes, so repeated runs cost nothing.
$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	$(PY) -m pip check
	touch $@

venv: $(STAMP)  ## Create or update .venv from the pinned requirements

lint: $(STAMP)  ## ruff check + ruff format --check
	$(VENV)/bin/ruff check $(CODE)
	$(VENV)/bin/ruff format --check $(CODE)

typecheck: $(STAMP)  ## mypy on our code
	$(VENV)/bin/mypy $(CODE)

test: lint typecheck  ## Lint, type-check and run the whole test suite
	$(PY) -m pytest

test-unit: $(STAMP)  ## Only the fast tier (no real services, no whole-pipeline runs)
	$(PY) -m pytest -m "not integration and not slow"

clean:  ## Remove caches and build output (keeps .venv and .state)
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
