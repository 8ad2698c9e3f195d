{#-
  Every row of `model` keeps the rules its model's YAML gives it, in one dbt node per model (and
  severity: a model's warnings are a second row_rules test with `severity: warn`):
  - `not_null`: each of these columns is non-null;
  - `accepted_values`: a mapping of column to its accepted values (nulls pass, as with dbt's own test);
  - `expressions`: each is true;
  - `unique`: a list of grains (each a list of columns): no two rows share one;
  - `references`: a list of `{column, to, field}`: every non-null `column` (or expression) of a row is a
    `field` of some row of `to` (dbt's `relationships`).
  Each rule was a dbt node of its own (a not-null, accepted values, expression, uniqueness or
  relationships test): 175 nodes in a build after new rows, of which dbt's own work is about 30 ms each,
  more than most of these queries. Each rule is still its own query, joined by `union all`:
  - not null: a count per column, filtered on `is null` alone, so that DuckDB skips every row group whose
    statistics say it holds no null (counting every column's nulls in one pass read every row: 0.12-0.23 s
    on journey_events at 10 M events, against 0.001 s);
  - accepted values: each column counted by value first, as dbt's own test does, and only the distinct
    values compared (unpivoting every row first took 0.63 s on journey_events at 10 M events, against
    0.02 s);
  - expressions: the rows where `not coalesce((expression), false)`, counted;
  - unique: the rows grouped by the grain, the groups of more than one;
  - references: the non-null values with no match in `to`, counted by value.

  `rows_since_tested` skips what the last successful build of this very project tested already (the
  instants come from continuum.pipeline.dbt, read only when executing, like as_of: a value that changes on
  every build must not make dbt re-parse the project; unset, every row is read):
  - `loaded`, on a model whose rows carry the loader's `loaded_at` and are only ever appended (staging,
    the raw tables): the row-by-row rules (not null, accepted values, expressions) read only the rows
    loaded since (CONTINUUM_DBT_TESTED_THROUGH: a row's verdict depends on that row alone, and a staged row
    never changes), and each grain counts only the keys of those rows, still over the whole table
    (grouping every landed row's Kafka position took 2.3 s of a 1 % run at 10 M events);
  - `written`, on a model whose rows carry `refreshed_at` (the start of the build that wrote them): each
    grain counts only the keys of the rows written since (CONTINUUM_DBT_WRITTEN_TESTED_THROUGH: the rows
    written before were unique then, so a key can be shared now only if a row of it was written since;
    grouping every key of int_events__unioned took 2.8 s of a build with nothing new at 10 M events).
    With `written_with` (a model carrying refreshed_at) and `written_by` (a column of both), for a model
    without refreshed_at that writes its rows of a `written_by` value only in a build that wrote rows of
    that value to `written_with` (journey_events: a participant's events are written when the shared
    events wrote theirs): the rows written since are those of the values `written_with` wrote since.
    The pipeline gives no mark when as_of moved back (journey_events then renumbers participants the
    shared events did not write).
  References always read every row: a row's reference can break (or mend) when another table changes.

  Fails with one row per broken rule and value: `rule` ('not_null', 'accepted_values', 'expression',
  'unique' or 'references'), `rule_column` (the column, the expression's text, the grain's columns, or
  `column -> to.field`), `bad_value` (as varchar: the value not accepted, the shared key, the reference
  not found; null for not null and expressions) and `rows_failing` (how many rows break it). No row when
  every rule holds.
-#}
{% test row_rules(
    model, not_null=[], accepted_values={}, expressions=[], unique=[], references=[],
    rows_since_tested=none, written_with=none, written_by=none
) %}
{#- the instant through which the last tested build read these rows, as a literal; '' for every row -#}
{%- set since_variable = {
    'loaded': 'CONTINUUM_DBT_TESTED_THROUGH',
    'written': 'CONTINUUM_DBT_WRITTEN_TESTED_THROUGH',
}.get(rows_since_tested) -%}
{%- if rows_since_tested is not none and since_variable is none -%}
    {{ exceptions.raise_compiler_error("row_rules: rows_since_tested is 'loaded' or 'written', not " ~ rows_since_tested) }}
{%- endif -%}
{%- set tested_through = env_var(since_variable, '') if execute and since_variable else '' -%}
{%- set since = "cast('" ~ tested_through ~ "' as timestamptz)" if tested_through else '' -%}
{%- set row_by_row = model -%}
{%- if since and rows_since_tested == 'loaded' -%}
    {%- set row_by_row = '(select * from ' ~ model ~ ' where loaded_at > ' ~ since ~ ') as loaded_since' -%}
{%- endif -%}
{%- set parts = [] -%}
{%- for column in not_null -%}
    {%- set part -%}
select 'not_null' as rule, '{{ column }}' as rule_column, cast(null as varchar) as bad_value,
       count(*) as rows_failing
from {{ row_by_row }}
where {{ column }} is null
having count(*) > 0
    {%- endset -%}
    {%- do parts.append(part) -%}
{%- endfor -%}
{%- for column, accepted in accepted_values.items() -%}
    {%- set part -%}
select 'accepted_values' as rule, '{{ column }}' as rule_column, cast({{ column }} as varchar) as bad_value,
       count(*) as rows_failing
from {{ row_by_row }}
where {{ column }} is not null
group by {{ column }}
having cast({{ column }} as varchar) not in (
    {%- for value in accepted %}'{{ value | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor -%}
)
    {%- endset -%}
    {%- do parts.append(part) -%}
{%- endfor -%}
{%- for expression in expressions -%}
    {%- set part -%}
select 'expression' as rule, '{{ expression | replace("'", "''") }}' as rule_column,
       cast(null as varchar) as bad_value, count(*) as rows_failing
from {{ row_by_row }}
where not coalesce(({{ expression }}), false)
having count(*) > 0
    {%- endset -%}
    {%- do parts.append(part) -%}
{%- endfor -%}
{%- for grain in unique -%}
    {%- set columns = grain | join(', ') -%}
    {%- set part -%}
select 'unique' as rule, '{{ columns }}' as rule_column,
       concat_ws(', ', {% for column in grain -%}
           coalesce(cast(tested.{{ column }} as varchar), 'null'){{ ', ' if not loop.last }}
       {%- endfor %}) as bad_value,
       count(*) as rows_failing
from (select * from {{ model }}) as tested
{%- if since %}
semi join (  {#- the keys of the rows loaded or written since; a key may hold nulls (program_type) #}
    {%- if rows_since_tested == 'loaded' %}
    select distinct {{ columns }} from {{ row_by_row }}
    {%- elif written_with is none %}
    select distinct {{ columns }} from {{ model }} where refreshed_at > {{ since }}
    {%- else %}
    select distinct {{ columns }} from {{ model }}
    where {{ written_by }} in (select {{ written_by }} from {{ written_with }} where refreshed_at > {{ since }})
    {%- endif %}
) as since_tested
    on {% for column in grain -%}
    tested.{{ column }} is not distinct from since_tested.{{ column }}{{ ' and ' if not loop.last }}
    {%- endfor %}
{%- endif %}
group by {% for column in grain %}tested.{{ column }}{{ ', ' if not loop.last }}{% endfor %}
having count(*) > 1
    {%- endset -%}
    {%- do parts.append(part) -%}
{%- endfor -%}
{%- for reference in references -%}
    {%- set part -%}
select 'references' as rule,
       '{{ (reference.column ~ " -> " ~ reference.to.identifier ~ "." ~ reference.field) | replace("'", "''") }}' as rule_column,
       cast(child.value as varchar) as bad_value, count(*) as rows_failing
from (select {{ reference.column }} as value from {{ model }}) as child
anti join (select {{ reference.field }} as value from {{ reference.to }}) as parent
    on child.value = parent.value
where child.value is not null
group by child.value
    {%- endset -%}
    {%- do parts.append(part) -%}
{%- endfor %}
{% if parts -%}
{{ parts | join('\nunion all\n') }}
{%- else -%}
select cast(null as varchar) as rule, cast(null as varchar) as rule_column, cast(null as varchar) as bad_value,
       cast(null as bigint) as rows_failing
where false
{%- endif %}
{% endtest %}
