# Entry points for people and CI. `make demo` and `make test` are the two commands a newcomer needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHECKOV := .venv-checkov/bin/checkov
CHECKOV_VERSION := 3.3.30
CODE := $(wildcard settings.py __main__.py components harness pipelines monitoring cost_estimate capacity benchmarks bootstrap docs/*.py tests)

.PHONY: help venv demo demo-drift lint typecheck test test-unit bench chart-template capacity cost clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

# The venv is rebuilt only when a requirements file changes, so repeated runs cost nothing.
$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	$(PY) -m pip check
	touch $@

venv: $(STAMP)  ## Create or update .venv from the pinned requirements

# checkov pins its own boto3/botocore/packaging and would downgrade ours: it lives in a venv of its own.
$(CHECKOV): Makefile
	test -x .venv-checkov/bin/python || $(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --disable-pip-version-check -q checkov==$(CHECKOV_VERSION)
	touch $@

demo: $(STAMP)  ## Run the training flow end to end on this machine (kfp.local, MLflow on SQLite, local DVC)
	$(PY) -m pipelines run --local

demo-drift: $(STAMP)  ## The same on a drifted batch: see drift detected and the champion kept
	$(PY) -m pipelines run --local --drifted

lint: $(STAMP)  ## ruff check + ruff format --check
	$(VENV)/bin/ruff check $(CODE)
	$(VENV)/bin/ruff format --check $(CODE)

typecheck: $(STAMP)  ## mypy on our code
	$(VENV)/bin/mypy $(CODE)

test: lint typecheck $(CHECKOV)  ## Lint, type-check and run the whole test suite
	$(PY) -m pytest

test-unit: $(STAMP)  ## Only the fast tier (no real services, no whole-pipeline runs)
	$(PY) -m pytest -m "not integration and not slow"

bench: $(STAMP)  ## Benchmarks (medians): pipeline wall time, drift at scale, alert latency
	@# Every benchmark runs; the target fails at the end if any missed its target.
	$(PY) -m benchmarks; training=$$?; \
	$(PY) -m benchmarks.bench_alert_latency --rounds 5 && exit $$training

chart-template: $(STAMP)  ## helm template of every chart each stack installs, with our values (needs helm)
	for stack in local dev prod; do $(PY) -m harness charts --stack $$stack --template || exit 1; done

capacity: $(STAMP)  ## Capacity plan: every pod of dev and prod against their node groups (20% headroom)
	$(PY) -m capacity --stack dev --stack prod

cost: $(STAMP)  ## Capacity plan and itemised monthly cost of dev and prod, nodes priced as the plan needs
	$(PY) -m cost_estimate --stack dev --stack prod

clean:  ## Remove caches and build output (keeps .venv and .state)
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
