{#- Repeat each row of `relation` once per reporting grain (`quarter`, `year`), with the first day of
    the period that holds `date_column` as period_start (UTC dates). -#}
{% macro in_periods(relation, date_column) -%}
    select
        grains.period_grain,
        cast(date_trunc(grains.period_grain, {{ date_column }}) as date) as period_start,
        {{ relation }}.*
    from {{ relation }}
    cross join (values ('quarter'), ('year')) as grains (period_grain)
{%- endmacro %}
