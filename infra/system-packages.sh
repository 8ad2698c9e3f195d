#!/usr/bin/env bash
# Debian packages the tests need beyond Python (a real PostgreSQL for the Airflow deployment test,
# Chromium for the browser tests). Installs only what is missing; `make test` runs it.
set -euo pipefail
PACKAGES=(
  chromium
  chromium-driver
  postgresql
)
missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]}; install them (as root: apt-get install ${missing[*]})" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
