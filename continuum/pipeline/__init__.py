"""The validated-load pipeline as plain functions: discover landed batches, validate one, load or
quarantine it, build the warehouse with dbt, publish it. `dags/continuum_pipeline.py` only declares
these as Airflow tasks; tests and `continuum quarantine` call them directly.
"""
