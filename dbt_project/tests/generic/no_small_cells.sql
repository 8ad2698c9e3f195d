{#- warehouse-v1: a count from 1 to 10 is never published (zero is). Fails on every row of `model`
    where one of `columns` holds 1 to 10. -#}
{% test no_small_cells(model, columns) %}
select *
from {{ model }}
where {% for column in columns -%}
    {{ column }} between 1 and 10{{ ' or ' if not loop.last }}
{%- endfor %}
{% endtest %}
