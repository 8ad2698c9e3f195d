{#-
  Every listed column of `model` is non-null: one query and one dbt node for all of a model's required
  columns (a not_null test per column cost a node each: ~100 nodes in staging and ~60 in the other
  models, whose fixed cost in dbt outweighed the scan). Fails with one row per column that has nulls,
  naming it and counting them.
-#}
{% test not_null_columns(model, columns) %}
with counted as (
    select
    {%- for column in columns %}
        count(*) filter (where {{ column }} is null) as {{ column }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }}
)

select null_column, rows_with_null
from (unpivot counted on columns(*) into name null_column value rows_with_null)
where rows_with_null > 0
{% endtest %}
