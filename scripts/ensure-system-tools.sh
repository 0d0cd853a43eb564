#!/usr/bin/env bash
# The system tools the test suite runs for real, brought in before any test starts, so `make test` skips
# nothing on a fresh Debian/Ubuntu machine. Installs the missing Debian packages when it may (root, or
# password-less sudo); otherwise prints the exact command and fails, before a single test has run.
# MLOPS_NO_APT=1 never installs, only checks and prints the command.
set -euo pipefail

# tool -> Debian package (tests/support/tools.py names the same executables).
declare -A PACKAGE_OF=(
  [promtool]=prometheus
  [prometheus]=prometheus
  [prometheus-pushgateway]=prometheus-pushgateway
  [prometheus-alertmanager]=prometheus-alertmanager
  [amtool]=prometheus-alertmanager
  [dot]=graphviz

)

missing=()
for tool in "${!PACKAGE_OF[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${PACKAGE_OF[$tool]}")
done
# PostgreSQL's server binaries live outside PATH (/usr/lib/postgresql/<major>/bin).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)

if ((${#missing[@]})); then
  mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)
  command="apt-get install -y --no-install-recommends ${packages[*]}"
  if [ "${MLOPS_NO_APT:-}" != 1 ] && { [ "$(id -u)" -eq 0 ] || sudo -n true 2>/dev/null; }; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    echo "[tools] installing ${packages[*]} (Debian packages the integration tests run; about 40 s)"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  else
    echo "[tools] the test suite needs Debian packages that are not installed: ${packages[*]}" >&2
    echo "[tools] install them, then run make test again:  sudo apt-get update && sudo $command" >&2
    exit 1
  fi
fi

# kubectl (kustomize rendering tests) is not packaged in Debian main.
if ! command -v kubectl >/dev/null 2>&1; then
  echo "[tools] kubectl is missing: install it (https://kubernetes.io/docs/tasks/tools/), then run make test again" >&2
  exit 1
fi
echo "[tools] all system tools present: prometheus, pushgateway, alertmanager, promtool, amtool, postgresql, graphviz, kubectl"
