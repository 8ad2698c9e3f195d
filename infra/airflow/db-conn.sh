#!/usr/bin/env bash
# Airflow's metadata database URL, built at each start from the Postgres password secret, so the
# password is in no environment variable and no file of ours (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD).
# No trailing newline: Airflow takes a *_CMD's output as is.
set -euo pipefail
password="$(cat "${AIRFLOW_DB_PASSWORD_FILE:-/run/secrets/postgres_password}")"
printf 'postgresql+psycopg2://%s:%s@%s:%s/%s' "${AIRFLOW_DB_USER:-airflow}" "$password" \
  "${AIRFLOW_DB_HOST:-postgres}" "${AIRFLOW_DB_PORT:-5432}" "${AIRFLOW_DB_NAME:-airflow}"
