{#-
  Incremental models that depend on as_of (docs/pipeline.md, Incremental models).

  Such a model keeps its rows from the last build and rebuilds, with delete+insert on its key, only the
  keys whose rows can have changed since: keys with a row loaded since the last build, and keys with an
  event whose time lies between the last build's as_of and this build's (as_of moved over it, so the
  `occurred_at <= as_of` cut-off now keeps it). Flags computed from as_of itself (a window that
  elapsed) add the keys whose threshold lies between the two as_of. When as_of moves back (a backfill)
  every key is rebuilt, and the model's post-hook drops the keys that have no row by the new as_of.

  What the last build saw is kept in a one-row table per model in the intermediate schema
  (`intermediate.incremental_state__<model>`: the latest loaded_at of the model's staged inputs, and
  the as_of), written by the model's post-hook in the same transaction as its rows. Without it (a first
  build, a warehouse built by older code) every key counts as changed.
-#}

{% macro incremental_state_relation() -%}
    {{ return(api.Relation.create(
        database=this.database, schema='intermediate', identifier='incremental_state__' ~ this.identifier)) }}
{%- endmacro %}

{#- Whether this build rebuilds every key of the incremental models: the pipeline asks it after the dbt
    project changed, since a model's rows that are not rebuilt were made by the old code. By hand (and in
    unit tests), var rebuild_all_keys; the pipeline's way is CONTINUUM_DBT_REBUILD_ALL_KEYS=true, read
    only at execution: a --vars change makes dbt parse the whole project again in the build after it
    (3.5 s), which the pipeline's next build would pay. -#}
{% macro rebuild_all_keys() -%}
    {%- if not execute -%}{{ return(false) }}{%- endif -%}
    {{ return(var('rebuild_all_keys', env_var('CONTINUUM_DBT_REBUILD_ALL_KEYS', 'false') == 'true')) }}
{%- endmacro %}

{#- The existing state relation of this model, or none: none too when the build rebuilds every key
    (rebuild_all_keys). -#}
{% macro incremental_state() -%}
    {%- if rebuild_all_keys() -%}{{ return(none) }}{%- endif -%}
    {%- set state = incremental_state_relation() -%}
    {{ return(adapter.get_relation(database=state.database, schema=state.schema, identifier=state.identifier)) }}
{%- endmacro %}

{#- The last build's as_of (a timestamptz expression), or null when there is no state. -#}
{% macro last_as_of() -%}
    {%- set state = incremental_state() -%}
    {%- if state is none -%}cast(null as timestamptz){%- else -%}{{ state_mark(state, 'built_as_of') }}{%- endif -%}
{%- endmacro %}

{#- The column `mark` of the one-row `state` table, or `default` (a SQL expression) when it is null.
    When executing, a constant asked of the database as the model is compiled or its hook rendered
    (value_now), so that a filter on it is one DuckDB compares with each row group's range: behind a
    subquery it scanned every row (int_events__unioned's search took 0.7-1.1 s at 10 M events with
    nothing new, 0.05 s with constants). A hook is rendered just before it runs, so it sees the state as
    the hooks before it left it, as the subquery did. -#}
{% macro state_mark(state, mark, default='cast(null as timestamptz)') -%}
    {%- if not execute -%}coalesce((select {{ mark }} from {{ state }}), {{ default }})
    {%- else -%}
        {%- set value = value_now('(select cast(' ~ mark ~ ' as varchar) from ' ~ state ~ ')') -%}
        {%- if value is none -%}{{ default }}{%- else -%}cast('{{ value }}' as timestamptz){%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- True for a time `column` in the span between the last build's as_of and this one's (either order),
    both ends moved back by `shift` (an interval: `requested_at` with a shift of 48 hours finds the
    referrals whose 48 hours end in the span); true for every row without state. -#}
{% macro between_the_two_as_of(column, shift='interval 0 day') -%}
    {%- if incremental_state() is none -%}true{%- else -%}
    ({{ column }} between least({{ last_as_of() }}, {{ as_of() }}) - {{ shift }}
                      and greatest({{ last_as_of() }}, {{ as_of() }}) - {{ shift }})
    {%- endif -%}
{%- endmacro %}

{#- True for a `date_expression` between the UTC dates of the last build's as_of and this one's, a day
    wider on each end (for windows on as_of_date()); true for every row without state. False for every
    row when the two as_of share their date: a window on as_of_date() cannot have moved then (with the
    marks as constants the whole search folds away; before, a build minutes after the last one rebuilt
    every participant with a window ending within a day of it, 13,210 at 10 M events). -#}
{% macro date_between_the_two_as_of(date_expression) -%}
    {%- set date_moved = 'cast(' ~ last_as_of() ~ ' as date) is distinct from ' ~ as_of_date() -%}
    {%- if incremental_state() is none -%}true
    {#- asked now: DuckDB does not fold a cast of a timestamptz to a date (it depends on the time zone) -#}
    {%- elif execute and not value_now(date_moved) -%}false
    {%- else -%}
    ({{ date_moved }}
     and {{ date_expression }} between cast(least({{ last_as_of() }}, {{ as_of() }}) as date) - 1
                                   and cast(greatest({{ last_as_of() }}, {{ as_of() }}) as date) + 1)
    {%- endif -%}
{%- endmacro %}

{#- True when this build's as_of is before the last build's (a backfill): every key counts as changed. -#}
{% macro as_of_moved_back() -%}
    coalesce({{ as_of() }} < {{ last_as_of() }}, false)
{%- endmacro %}

{#- The value of the SQL `expression`, asked of the database now (call it only when executing): for a
    choice made in Jinja or a constant written into the SQL, so that the SQL of the usual case holds only
    constants DuckDB can prune row groups by (a subquery behind an OR or a UNION it does not push down). -#}
{% macro value_now(expression) -%}
    {{ return(run_query('select ' ~ expression).columns[0].values()[0]) }}
{%- endmacro %}

{#- Whether `relation` exists, asked of the database now (call it only when executing), not of dbt's
    cache of relations, which does not know a table a hook made in this run. -#}
{% macro relation_exists_now(relation) -%}
    {{ return(run_query(
        "select count(*) from information_schema.tables where table_catalog = '" ~ relation.database
        ~ "' and table_schema = '" ~ relation.schema ~ "' and table_name = '" ~ relation.identifier ~ "'"
    ).columns[0].values()[0] > 0) }}
{%- endmacro %}

{#- as_of_moved_back(), asked of the database (false when not executing, and without state). -#}
{% macro as_of_moved_back_now() -%}
    {%- if not execute or incremental_state() is none -%}{{ return(false) }}{%- endif -%}
    {{ return(value_now(as_of_moved_back())) }}
{%- endmacro %}

{#- True for a row (of a model cut off at as_of) that can change this model since its last build:
    loaded after the latest loaded_at the last build saw (strictly: with `>=` the whole last load,
    often a back-load of a million events, counted as new again in every later build, and a build
    with nothing new rebuilt 40 % of the participants at 100,000; loads and builds take the
    warehouse's one write lock in turn, and each load stamps its rows with the wall clock when it
    starts, so no row can be stamped at that instant after the build), or with an event time between
    the last build's as_of and this one's. When as_of moved back, true for every row (the rows after the new
    as_of are cut off, so they cannot say which keys they leave). True for every row without state. -#}
{% macro changed_since_last_build(loaded_column='loaded_at', occurred_column='occurred_at') -%}
    {%- if incremental_state() is none -%}true{%- else -%}
    ({{ loaded_since_last_build(loaded_column) }}
     or {{ between_the_two_as_of(occurred_column) }}
     or {{ as_of_moved_back() }})
    {%- endif -%}
{%- endmacro %}

{#- True for a row loaded after the latest loaded_at the last build saw (above); true without state. -#}
{% macro loaded_since_last_build(loaded_column='loaded_at') -%}
    {{ after_the_last_builds_mark(loaded_column, 'loaded_watermark') }}
{%- endmacro %}

{#- True for a row whose `column` is after the mark `mark` (a column of this model's state table); true
    without state. -#}
{% macro after_the_last_builds_mark(column, mark) -%}
    {%- set state = incremental_state() -%}
    {%- if state is none -%}true{%- else -%}
    ({{ column }} > {{ state_mark(state, mark, default="'-infinity'::timestamptz") }})
    {%- endif -%}
{%- endmacro %}

{#- True for a row of a model that keeps the rows it wrote (int_events__unioned) when it must be
    written again: loaded since the last build, or timed between the two as_of (it enters now; when as_of
    moved back, the model's post-hook drops what is after it, and nothing else changes). `relation` is
    the alias of the staged rows. True for every row in a full build or without state. -#}
{% macro event_is_rewritten(relation=none) -%}
    {%- set prefix = relation ~ '.' if relation else '' -%}
    {%- if not is_incremental() or incremental_state() is none -%}true{%- else -%}
    ({{ loaded_since_last_build(prefix ~ 'loaded_at') }} or {{ between_the_two_as_of(prefix ~ 'occurred_at') }})
    {%- endif -%}
{%- endmacro %}

{#- True for a row whose `refreshed_at` is after the latest one this model's last build saw (its state's
    refreshed_watermark: save_incremental_state(..., refreshed_from=...)); true without state. -#}
{% macro refreshed_since_last_build(refreshed_column='refreshed_at') -%}
    {{ after_the_last_builds_mark(refreshed_column, 'refreshed_watermark') }}
{%- endmacro %}

{#- The state's refreshed_watermark as a constant (call it only when executing, with a state), for a
    filter DuckDB can compare with each row group's range of refreshed_at. -#}
{% macro last_refreshed_watermark_literal() -%}
    {{ state_mark(incremental_state(), 'refreshed_watermark', default="'-infinity'::timestamptz") }}
{%- endmacro %}

{#- The staged event models (one per event type) int_events__unioned reads. -#}
{% macro staged_event_models() -%}
    {{ return([
        'stg_events__participant_enrolled', 'stg_events__participant_exited', 'stg_events__consent_granted',
        'stg_events__consent_revoked', 'stg_events__referral_requested', 'stg_events__referral_status_changed',
        'stg_events__service_delivered', 'stg_events__incident_recorded', 'stg_events__custody_admitted',
        'stg_events__custody_released', 'stg_events__justice_arrested', 'stg_events__outcome_recorded',
    ]) }}
{%- endmacro %}

{#- Post-hook: record what this build saw (the latest loaded_at of `inputs`, the names of the staged
    models the model reads; the latest refreshed_at of the model or models `refreshed_from`, if given;
    and as_of) for the next build of this model. -#}
{% macro save_incremental_state(inputs, refreshed_from=none) -%}
    {%- set refreshed_models = [refreshed_from] if refreshed_from is string else refreshed_from -%}
    create or replace table {{ incremental_state_relation() }} as
    select
        (select max(loaded_at) from (
            {%- for input in inputs %}
            select max(loaded_at) as loaded_at from {{ ref(input) }}{{ ' union all' if not loop.last }}
            {%- endfor %}
        )) as loaded_watermark,
        {%- if refreshed_models %}
        (select max(refreshed_at) from (
            {%- for model in refreshed_models %}
            select max(refreshed_at) as refreshed_at from {{ ref(model) }}{{ ' union all' if not loop.last }}
            {%- endfor %}
        )) as refreshed_watermark,
        {%- endif %}
        {{ as_of() }} as built_as_of
{%- endmacro %}
