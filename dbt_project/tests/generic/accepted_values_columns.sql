{#-
  Each column of `values` (a mapping of column to its accepted values) holds only those values; nulls
  pass, as with dbt's accepted_values. One query and one dbt node for all of a model's enumerations (an
  accepted_values test per column cost a node each, about 50 in all, whose fixed cost in dbt outweighed
  the scan). Fails with one row per column and value not accepted, naming both and counting the rows.
-#}
{% test accepted_values_columns(model, values) %}
with checked as (
    select
    {%- for column in values %}
        cast({{ column }} as varchar) as {{ column }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }}
),

long as (  -- unpivot leaves out nulls
    unpivot checked on columns(*) into name value_column value value_field
)

select value_column, value_field, count(*) as n_records
from long
where
{%- for column, accepted in values.items() %}
    (value_column = '{{ column }}' and value_field not in (
        {%- for value in accepted %}'{{ value | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor -%}
    )){{ " or" if not loop.last }}
{%- endfor %}
group by value_column, value_field
{% endtest %}
