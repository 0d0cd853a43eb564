#!/usr/bin/env bash
# `make test`'s six tiers, each with a header and a one-line result with its time. Lint and typecheck run
# first and stop the run when they fail (a type error makes test failures noise); the four pytest tiers
# (checkov, unit, integration, slow) run in one pytest process, collected once and ordered by tier
# (tests/support/tiers.py), so the progress costs no extra collection. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

TOTAL=6
now_us() { echo "${EPOCHREALTIME/./}"; }  # bash 5: microseconds, no bc or date needed
seconds_since() {
  local tenths=$((($(now_us) - $1) / 100000))
  echo "$((tenths / 10)).$((tenths % 10))"
}
run_start=$(now_us)

tier() {
  local number=$1 name=$2 what=$3
  shift 3
  echo "[test $number/$TOTAL] $name: $what ..."
  local start
  start=$(now_us)
  if "$@"; then
    echo "[test $number/$TOTAL] $name: passed in $(seconds_since "$start") s"
  else
    echo "[test $number/$TOTAL] $name: FAILED in $(seconds_since "$start") s (tiers $((number + 1))-$TOTAL not run)" >&2
    exit 1
  fi
}

tier 1 lint "ruff check, ruff format --check" make -s --no-print-directory lint
tier 2 typecheck "mypy" make -s --no-print-directory typecheck

status=0
.venv/bin/python -m pytest -p tests.support.tiers --tier-progress=3/$TOTAL "$@" || status=$?
if ((status == 0)); then
  echo "[test] all $TOTAL tiers passed in $(seconds_since "$run_start") s"
else
  echo "[test] FAILED (pytest exit $status) after $(seconds_since "$run_start") s" >&2
fi
exit "$status"
