{#-
  On-run-start: this build's checkpoints leave DuckDB's vacuum out when the pipeline asks
  (CONTINUUM_DBT_DEFER_VACUUM=true, continuum.pipeline.dbt.DEFER_VACUUM_ENV). A checkpoint's vacuum
  merges the row groups an incremental build deleted rows from or appended a few to, rewriting them into
  new blocks: at 10 M events 3.5 s of a 1 % build's 28 s, mostly at its end, where nothing else runs
  (docs/benchmarks.md). Without it the deleted rows stay in the file until a build vacuums again, which
  the pipeline lets one do once they are more than a few per cent of the warehouse's rows (docs/pipeline.md,
  "Checkpoints without vacuum"). `max_vacuum_tasks` is global: it holds for every thread of this build.
  Read when executing, never while parsing, as as_of() is: a changed value must not re-parse the project.
-#}
{% macro defer_vacuum_if_asked() -%}
    {%- if execute and env_var('CONTINUUM_DBT_DEFER_VACUUM', '') == 'true' -%}
    set global max_vacuum_tasks = 0
    {%- else -%}
    select 1  {#- DuckDB's own setting: every checkpoint vacuums -#}
    {%- endif -%}
{%- endmacro %}
