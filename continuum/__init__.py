"""Continuum: the data backbone of a community-safety provider network.

`common.settings` holds configuration, `common.directory` the provider directory and
`continuum.cli` the `continuum` command. Kafka-facing code lives in `streams`, the embedded broker
in `infra`, data-quality suites in `expectations`, the DAG in `dags/` and the warehouse in `dbt_project/`.
"""
