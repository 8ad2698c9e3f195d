{#-
  dbt's own get_where_subquery (a test's `where` config), with one placeholder the pipeline fills in:
  `where: __rows_loaded_since_the_last_tested_build__` on a row-by-row data test of a table with
  `loaded_at` (staging's models, raw.events, raw.dead_letters) makes it read only the rows loaded after
  the last successful build of this very project tested the others (CONTINUUM_DBT_TESTED_THROUGH, set by
  continuum.pipeline.dbt from its build record); unset, it reads every row.
  Only for tests whose verdict on a row depends on that row alone (not null, accepted values): staging
  appends and never changes a staged row, so a row that passed once passes again. Tests that compare rows
  (uniqueness, relationships) never get the placeholder. Read only when executing, like as_of (a value
  that changes on every build must not make dbt re-parse the project).
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where == '__rows_loaded_since_the_last_tested_build__' -%}
        {%- set tested_through = env_var('CONTINUUM_DBT_TESTED_THROUGH', '') if execute else '' -%}
        {%- set where = "loaded_at > cast('" ~ tested_through ~ "' as timestamptz)" if tested_through else '' -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
