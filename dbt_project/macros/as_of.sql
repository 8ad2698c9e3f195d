{#-
  The build's as_of time as a TIMESTAMPTZ literal: the `as_of` var (ISO 8601, e.g.
  `--vars '{as_of: "2026-06-30T00:00:00Z"}'`; unit tests set it), else the CONTINUUM_DBT_AS_OF
  environment variable (how continuum.pipeline.dbt passes it), else the build's start, so that a
  build is reproducible. Windows that have not fully elapsed by as_of stay out of denominators.
  The environment variable is read only when executing (`execute`), never while parsing: a value that
  changes on every run must not make dbt re-parse the project (a changed `--vars` re-parses it all).
-#}
{% macro as_of() -%}
    {%- set value = var('as_of', none) -%}
    {%- if (value is none or value == '') and execute -%}
        {%- set value = env_var('CONTINUUM_DBT_AS_OF', '') -%}
    {%- endif -%}
    {%- if value is none or value == '' -%}
        {%- set value = run_started_at.strftime('%Y-%m-%dT%H:%M:%S.%f') ~ '+00:00' -%}
    {%- endif -%}
    cast('{{ value }}' as timestamptz)
{%- endmacro %}

{#- The UTC date of as_of: day windows ("N days after", day 0 = the cohort event's date) have fully
    elapsed when as_of's date is later than the window's last day. -#}
{% macro as_of_date() -%}
    cast({{ as_of() }} as date)
{%- endmacro %}

{#- The instant this dbt invocation started (UTC), stamped as `refreshed_at` on the rows a model keeping
    its rows (re)writes, so that its readers find them (refreshed_since_last_build(),
    macros/incremental_as_of.sql). Here, beside as_of, since this file alone reads the clock
    (tests/test_build_skip.py): the stamp is bookkeeping, never compared with an event's time nor
    published, so a skipped build cannot get an answer wrong by it. -#}
{% macro build_started_at() -%}
    cast('{{ run_started_at.strftime('%Y-%m-%dT%H:%M:%S.%f') }}+00:00' as timestamptz)
{%- endmacro %}
