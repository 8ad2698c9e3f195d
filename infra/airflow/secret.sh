#!/usr/bin/env bash
# Print Docker secret $1 without its trailing newline: Airflow uses a *_CMD's output as is, and a
# newline would become part of the key or password.
set -euo pipefail
value="$(cat "${SECRETS_DIR:-/run/secrets}/$1")"  # $(...) drops trailing newlines
printf '%s' "$value"
