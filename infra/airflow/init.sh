#!/usr/bin/env bash
# One-shot Airflow set-up, run before the Airflow services start (and safe to re-run):
# migrate the metadata database, then create the pool the DAG needs. The DAG needs no Airflow
# connection: its tasks read Kafka and warehouse settings from CONTINUUM_* (common/settings.py).
set -euo pipefail
airflow db migrate
pool="$(python -c 'from continuum.pipeline.airflow_home import WAREHOUSE_POOL; print(WAREHOUSE_POOL)')"
airflow pools set "$pool" 1 "tasks that open the warehouse for writing (DuckDB has one writer)"
echo "airflow metadata database migrated; pool $pool has 1 slot"
