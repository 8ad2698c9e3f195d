{#-
  The build's as_of time as a TIMESTAMPTZ literal: the `as_of` var (ISO 8601, e.g.
  `--vars '{as_of: "2026-06-30T00:00:00Z"}'`), or the build's start when it is unset, so that a
  build is reproducible. Windows that have not fully elapsed by as_of stay out of denominators.
-#}
{% macro as_of() -%}
    {%- set value = var('as_of', none) -%}
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
