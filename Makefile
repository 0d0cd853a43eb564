# Entry points for people and CI. `make demo` and `make test` are the two commands a newcomer needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHECKOV := .venv-checkov/bin/checkov
CHECKOV_VERSION := 3.3.30
CODE := $(wildcard settings.py versions.py resources.py __main__.py components harness upstream capacity pipelines monitoring serving relay loop cost_estimate benchmarks bootstrap docs/*.py tests)

.PHONY: help venv lock tools demo demo-drift demo-loop serve lint typecheck test test-unit bench upstream-check upstream-derive capacity cost clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

UV_VERSION := 0.13.9
UV := .venv-uv/bin/uv
LOCK := requirements.lock
UV_LOCK := requirements-uv.lock

# uv installs the locked set in ~30 s where pip takes minutes; uv itself comes hash-checked from PyPI.
$(UV): $(UV_LOCK)
	@echo "[install] uv $(UV_VERSION) into .venv-uv (a few seconds)"
	test -x .venv-uv/bin/python || $(PYTHON) -m venv .venv-uv
	.venv-uv/bin/python -m pip install --disable-pip-version-check -q --require-hashes -r $(UV_LOCK)
	touch $@

# The venv is rebuilt only when the lock changes, so repeated runs cost nothing. Every wheel is checked
# against the lock's hashes; `uv pip sync` also removes what the lock does not name. Bytecode is compiled
# once here: where PYTHONDONTWRITEBYTECODE is set (as on our CI machines) every process would otherwise
# compile mlflow, pandas, evidently and the Pulumi SDKs from source at each import (~10 s of the unit tier,
# seconds in every kfp.local task).
$(STAMP): $(LOCK) $(UV)
	@echo "[install] .venv from $(LOCK) (hash-checked, bytecode compiled; ~35 s with uv's download cache warm)"
	@start=$$(date +%s) && \
	{ test -x $(PY) || $(UV) venv -q --python $(PYTHON) $(VENV); } && \
	$(UV) pip sync -q --python $(PY) --require-hashes --compile-bytecode $(LOCK) && \
	$(UV) pip check -q --python $(PY) && \
	touch $@ && echo "[install] .venv ready in $$(( $$(date +%s) - start )) s"

lock: $(UV)  ## Re-resolve requirements*.txt into the hash-checked lock files (needs PyPI)
	$(UV) pip compile requirements-dev.txt --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" -q -o $(LOCK)
	printf 'uv==%s\n' $(UV_VERSION) | $(UV) pip compile - --universal --python-version 3.11 \
		--generate-hashes --custom-compile-command "make lock" -q -o $(UV_LOCK)
	$(UV) pip compile docker/serving/requirements.in -c $(LOCK) --universal --python-version 3.11 \
		--generate-hashes --custom-compile-command "make lock" \
		-q -o docker/serving/requirements.txt

venv: $(STAMP)  ## Create or update .venv from the hash-checked lock (requirements.lock)

tools:  ## Install the Debian packages the integration tests run (or print the exact command)
	@bash scripts/ensure-system-tools.sh

# checkov pins its own boto3/botocore/packaging and would downgrade ours: it lives in a venv of its own.
$(CHECKOV): Makefile
	@echo "[install] checkov $(CHECKOV_VERSION) into .venv-checkov (its own venv; about a minute cold, once)"
	@start=$$(date +%s) && \
	{ test -x .venv-checkov/bin/python || $(PYTHON) -m venv .venv-checkov; } && \
	.venv-checkov/bin/python -m pip install --disable-pip-version-check -q checkov==$(CHECKOV_VERSION) && \
	touch $@ && echo "[install] checkov ready in $$(( $$(date +%s) - start )) s"

demo: $(STAMP)  ## Run the training flow end to end on this machine (kfp.local, MLflow on SQLite, local DVC)
	$(PY) -m pipelines run --local

demo-drift: $(STAMP)  ## The same on a drifted batch: see drift detected and the champion kept
	$(PY) -m pipelines run --local --drifted

# `tools` first: the loop runs the Debian Prometheus, Pushgateway and Alertmanager.
demo-loop: tools $(STAMP)  ## Drifted traffic -> live drift -> alert -> relay -> retraining -> champion -> resolved
	$(PY) -m loop demo

serve: $(STAMP)  ## Serve the demo's champion on http://127.0.0.1:8080 until Ctrl-C (after `make demo`)
	$(PY) -m serving local

lint: $(STAMP)  ## ruff check + ruff format --check
	$(VENV)/bin/ruff check $(CODE)
	$(VENV)/bin/ruff format --check $(CODE)

typecheck: $(STAMP)  ## mypy on our code
	$(VENV)/bin/mypy $(CODE)

# `tools` first: a missing system tool stops here with the command to install it, before any test runs.
# Six tiers (lint, typecheck, checkov, unit, integration, slow), each with a header and a timed result;
# PYTEST_ARGS reach pytest, e.g. `make test PYTEST_ARGS=-x`.
test: tools $(STAMP) $(CHECKOV)  ## Lint, type-check and run the whole test suite in tiers (nothing skipped)
	@bash scripts/test-tiers.sh $(PYTEST_ARGS)

# pytest-xdist workers, one per core of the machines we size for (CI has 2); more cores: TEST_WORKERS=8.
TEST_WORKERS ?= 2
# The same tests as `make test`'s unit tier (tests/support/tiers.py): checkov's scan is a tier of its own.
test-unit: $(STAMP)  ## The unit tier, on TEST_WORKERS (2) cores: no real services, no whole-pipeline runs, no MLflow migrations, Evidently, DVC or checkov
	$(PY) -m pytest -n $(TEST_WORKERS) -m "not checkov and not integration and not slow"

bench: $(STAMP)  ## Benchmarks (medians): pipeline wall time, drift at scale, alert latency, closed loop, fresh clone -> demo
	@# Every benchmark runs; the target fails at the end if any missed its target.
	$(PY) -m benchmarks; training=$$?; \
	$(PY) -m benchmarks.bench_alert_latency --rounds 5; alerts=$$?; \
	$(PY) -m benchmarks.bench_loop --rounds 3; loop=$$?; \
	$(PY) -m benchmarks.bench_fresh_clone --rounds 3 && exit $$((training || alerts || loop))

# Render every upstream part (charts, KFP manifests) at its pin, with network; offline pass UPSTREAM_SOURCES,
# e.g. UPSTREAM_SOURCES="--kfp-source ../pipelines --chart-source kube-prometheus-stack=/tmp/kps" (docs/upstream.md).
upstream-check: $(STAMP) $(CHECKOV)  ## Re-render upstream parts per stack; fail on a facts diff or a check
	for stack in local dev prod; do $(PY) -m upstream check --stack $$stack $(UPSTREAM_SOURCES) || exit 1; done

upstream-derive: $(STAMP)  ## Re-derive upstream/facts and upstream/images.json after a version bump
	for stack in local dev prod; do $(PY) -m upstream derive --stack $$stack $(UPSTREAM_SOURCES) || exit 1; done
	$(PY) -m upstream images

capacity: $(STAMP)  ## Capacity plan: every pod of dev and prod against their node groups (20% headroom)
	$(PY) -m capacity --stack dev --stack prod

cost: $(STAMP)  ## Capacity plan and itemised monthly cost of dev and prod, nodes priced as the plan needs
	$(PY) -m cost_estimate --stack dev --stack prod

clean:  ## Remove caches and build output (keeps .venv and .state)
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
