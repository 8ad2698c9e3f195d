{#-
  Incremental outcome members (docs/pipeline.md, Incremental models): the int_outcomes__* models, the
  release cohorts they read, operators.funder_outcome_member_rows and the served members merged from it
  (int_outcomes__served_members) keep their rows from one build to the next and rebuild only the participants whose member rows can have changed since the model's last
  build. Every member row belongs to one participant and is decided by that participant's events, its
  referrals' answers and as_of, so a participant's rows can change only when
    - an event of theirs was loaded since, or is timed between the last build's as_of and this one's
      (as for the other incremental models: consent, demographics, enrollments, services, injuries ...);
    - an answer to a referral of theirs was (a service or an enrollment citing the referral_id, which
      the receiving provider may file under its own participant key, or a status change), or an exit
      from an enrollment of theirs (matched on provider and enrollment_id, as the spells are);
    - a window of theirs ended between the two as_of: a referral's request plus 48 hours between the two
      as_of, or an event's date plus 30, 90, 180 or 365 days between the two as_of dates (a day wider on
      each end; none when the two as_of share their date);
  and every participant's rows can change when as_of moves back (a backfill) or into another quarter
  (an open enrollment runs to as_of, so it enters the new period): then the model is rebuilt whole.

  A model deletes the rows of those participants in a pre-hook and appends their rows anew (a
  participant whose consent was revoked has no rows to append, so delete+insert on the key would keep
  their old ones), both in the model's transaction; its post-hook records what it saw
  (save_incremental_state). Without state (a first build, an older warehouse, or a build after the dbt
  project changed: incremental_state()) every participant is rebuilt.

  The search for those participants reads every event three times; eight models need it, and after
  a build in which all of them succeeded they need the same set. So int_outcomes__rebuilt_participants
  searches once per build, since its own last build, and keeps the state it searched from (its base);
  a model whose own state is that base takes the set from it, any other (it failed or was not selected
  last time) searches for itself.

  A model reads:
      {{ outcome_members_config() }}
      with {{ rebuilt_consenting_participants() }}   -- or {{ rebuilt_participants_cte() }} and
      ...                                            -- where {{ outcome_member_is_rebuilt() }}
-#}

{#- The model's config (incremental, its hooks; a new column comes with a full rebuild, so its columns
    are synced) and the models the hooks and the rebuilt participants read, which dbt must know at parse
    time (those refs are rendered only in an incremental build). -#}
{% macro outcome_members_config(refreshed_from=none, keep_stamps=false) -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='sync_all_columns',
        pre_hook="{{ delete_rebuilt_outcome_members(keep_stamps=" ~ keep_stamps ~ ") }}",
        post_hook="{{ save_incremental_state(['int_events__unioned'], refreshed_from=" ~ refreshed_from ~ ") }}"
    ) }}
-- depends_on: {{ ref('int_events__unioned') }} {{ ref('int_participants__enrollment_spells') }}
-- depends_on: {{ ref('int_outcomes__rebuilt_participants') }}
{%- endmacro %}

{#- The CTEs `rebuilt_participants` (in an incremental build) and `consenting`: the consenting
    participants this build rebuilds, every outcome model's first CTE (with its trailing comma). -#}
{% macro rebuilt_consenting_participants() -%}
{{ rebuilt_participants_cte() }}
consenting as (  -- the consenting participants rebuilt
    select participant_key from {{ ref('int_participants__spine') }}
    where is_consenting and {{ outcome_member_is_rebuilt() }}
),
{%- endmacro %}

{#- True when every participant is rebuilt: no state, as_of moved back, or as_of in another quarter. -#}
{% macro outcome_members_rebuild_all() -%}
    {%- if not is_incremental() or incremental_state() is none -%}true{%- else -%}
    ({{ as_of_moved_back() }}
     or date_trunc('quarter', {{ last_as_of() }}) <> date_trunc('quarter', {{ as_of() }}))
    {%- endif -%}
{%- endmacro %}

{#- outcome_members_rebuild_all() as the constant `true` or `false` when executing (value_now): DuckDB
    does not fold date_trunc of a timestamptz (it depends on the session's time zone), and behind that
    OR it hashed every member row for the kept stamps (1.2 s at 10 M events with nobody to rebuild). -#}
{% macro outcome_members_rebuild_all_now() -%}
    {%- if not execute -%}{{ outcome_members_rebuild_all() }}
    {%- else -%}{{ 'true' if value_now(outcome_members_rebuild_all()) else 'false' }}{%- endif -%}
{%- endmacro %}

{#- A select of the participant keys whose member rows can have changed since this model's last build
    (read when outcome_members_rebuild_all() is false). -#}
{% macro outcome_members_changed() -%}
    with changed_events as (
        select participant_key, referral_id, event_id, event_type from {{ ref('int_events__unioned') }}
        where {{ changed_since_last_build() }}
    )
    select participant_key from changed_events
    union
    select requested.participant_key  -- the referrals answered
    from {{ ref('int_events__unioned') }} as requested
    where requested.event_type = 'referral.requested'
      and requested.referral_id in (select referral_id from changed_events where referral_id is not null)
    union
    select participant_key  -- the enrollments exited (the spells are built before)
    from {{ ref('int_participants__enrollment_spells') }}
    where exit_event_id in (select event_id from changed_events where event_type = 'participant.exited')
    union
    select participant_key from {{ ref('int_events__unioned') }}  -- the 48 hours of a referral that ended
    where event_type = 'referral.requested' and {{ between_the_two_as_of('occurred_at', 'interval 48 hour') }}
    union
    select participant_key from {{ ref('int_events__unioned') }}  -- the windows in days that ended
    where event_type in ('referral.requested', 'custody.released', 'participant.enrolled', 'incident.recorded')
      and (
        {%- for days in [30, 90, 180, 365] %}
        {{ date_between_the_two_as_of('cast(occurred_at as date) + ' ~ days) }}{{ ' or' if not loop.last }}
        {%- endfor %}
      )
{%- endmacro %}

{#- The temporary table of the participants this build rebuilds, found once per model (a pre-hook) and
    read by the delete and the model's select. -#}
{% macro rebuilt_participants_relation() -%}
    temp.main.rebuilt_participants__{{ this.identifier }}
{%- endmacro %}

{#- The CTE `rebuilt_participants` (with its trailing comma) that outcome_member_is_rebuilt() reads, in
    an incremental build; nothing otherwise. -#}
{% macro rebuilt_participants_cte() -%}
    {%- if is_incremental() %}
rebuilt_participants as (
    select participant_key from {{ rebuilt_participants_relation() }}
),
    {% endif -%}
{%- endmacro %}

{#- A predicate on a participant key column: true for the participants this build rebuilds (after
    rebuilt_participants_cte()). -#}
{% macro outcome_member_is_rebuilt(participant_key='participant_key') -%}
    {%- if not is_incremental() -%}true{%- else -%}
    ({{ outcome_members_rebuild_all_now() }}
     or {{ participant_key }} in (select participant_key from rebuilt_participants))
    {%- endif -%}
{%- endmacro %}

{#- A predicate on the rows of models that keep member rows and stamp them `refreshed_at` (the
    int_outcomes__* models, read by operators.funder_outcome_member_rows, whose config names them as
    `refreshed_from`): true for the rows of the participants this build rebuilds, of those only the rows
    written since this model's last build. Every such row is: each of those models ran before this one
    in every build this one did (a model whose input failed is skipped), and rebuilt since then the
    participants whose rows can have changed since, writing all their rows anew. Reading only rows
    written since lets DuckDB skip the row groups written before (their refreshed_at range), instead of
    reading every member row at 10 million events to take the rebuilt participants' (9 s). DuckDB skips
    them only for a constant behind no OR, so both the choice to rebuild all and the mark are asked of
    the database when the model is compiled (value_now; before its hooks: the state is the last build's). -#}
{% macro outcome_member_row_is_rebuilt() -%}
    {%- if not execute or not is_incremental() or incremental_state() is none -%}true
    {%- elif value_now(outcome_members_rebuild_all()) -%}true
    {%- else -%}
    (participant_key in (select participant_key from rebuilt_participants)
     and refreshed_at > {{ last_refreshed_watermark_literal() }})
    {%- endif -%}
{%- endmacro %}

{#- Pre-hooks: find the participants this build rebuilds, and delete their rows (all rows in a full
    rebuild). With keep_stamps (operators.funder_outcome_member_rows), first keep each rebuilt
    participant's digest of rows and stamp (kept_member_stamps), for with_kept_or_new_stamp(). -#}
{% macro delete_rebuilt_outcome_members(keep_stamps=false) -%}
    {%- if is_incremental() -%}
    create or replace temp table rebuilt_participants__{{ this.identifier }} as
    {% if incremental_state() is none -%}
    select cast(null as varchar) as participant_key where false  {#- every participant is rebuilt -#}
    {%- elif state_is_the_rebuilt_participants_base() -%}
    select participant_key from {{ ref('int_outcomes__rebuilt_participants') }}
    {%- else -%}
    {{ outcome_members_changed() }}
    {%- endif %};
    {%- set rebuilt_rows -%}
    {{ outcome_members_rebuild_all_now() }}
       or participant_key in (select participant_key from {{ rebuilt_participants_relation() }})
    {%- endset %}
    {%- if keep_stamps %}
    {#- a table made by code before the stamp has none to keep -#}
    {%- set stamped = 'refreshed_at' in (adapter.get_columns_in_relation(this) | map(attribute='name') | list) %}
    create or replace temp table {{ kept_member_stamps_relation() }} as
    select participant_key, count(*) as row_count,
           sum(hash(*columns(*{{ ' exclude (refreshed_at)' if stamped }}))) as row_hashes,
           {{ 'max(refreshed_at)' if stamped else 'cast(null as timestamptz)' }} as refreshed_at
    from {{ this }}
    where {{ rebuilt_rows }}
    group by participant_key;
    {%- endif %}
    delete from {{ this }}
    where {{ rebuilt_rows }}
    {%- else -%}
    select 1  {#- nothing to delete: the table is built whole -#}
    {%- endif -%}
{%- endmacro %}

{#- The state int_outcomes__rebuilt_participants searched from in this build (its state before it ran). -#}
{% macro rebuilt_participants_base_relation() -%}
    {{ return(api.Relation.create(database=this.database, schema='intermediate',
                                  identifier='incremental_base__int_outcomes__rebuilt_participants')) }}
{%- endmacro %}

{#- Pre-hook of int_outcomes__rebuilt_participants: keep its state as the base of this build's search
    (none without state: then no model takes the set from it). -#}
{% macro keep_rebuilt_participants_base() -%}
    {%- set base = rebuilt_participants_base_relation() -%}
    {%- set state = incremental_state() -%}
    {%- if state is none -%}
    drop table if exists {{ base }}
    {%- else -%}
    create or replace table {{ base }} as select loaded_watermark, built_as_of from {{ state }}
    {%- endif -%}
{%- endmacro %}

{#- True (when executing) if this model's state is the base of this build's shared search: the same
    loaded_at mark and the same as_of, so its own search would find the same participants. -#}
{% macro state_is_the_rebuilt_participants_base() -%}
    {%- set state = incremental_state() -%}
    {%- set base = rebuilt_participants_base_relation() -%}
    {%- if not execute or state is none -%}{{ return(false) }}{%- endif -%}
    {#- Asked of the database, not of dbt's cache of relations: the base is made by a hook in this run. -#}
    {%- set base_exists = run_query(
        "select count(*) from information_schema.tables where table_catalog = '" ~ base.database
        ~ "' and table_schema = '" ~ base.schema ~ "' and table_name = '" ~ base.identifier ~ "'"
    ).columns[0].values()[0] -%}
    {%- if base_exists == 0 -%}{{ return(false) }}{%- endif -%}
    {%- set same = run_query(
        "select count(*) from " ~ state ~ " as mine, " ~ base ~ " as base"
        ~ " where mine.loaded_watermark is not distinct from base.loaded_watermark"
        ~ " and mine.built_as_of = base.built_as_of"
    ).columns[0].values()[0] -%}
    {{ return(same == 1) }}
{%- endmacro %}

{#- The member rows' stamp (operators.funder_outcome_member_rows.refreshed_at) says when a participant's
    rows last changed, not when they were last rebuilt: publishing compares the table by it
    (continuum.pipeline.publish.STAMP_COLUMN), and a stamp renewed on every rebuild made it write every
    rebuilt participant again (at 10 M events the published copy grew by 6 %, to 2.01 times the landing
    zone). A rebuilt participant whose rows come out as before (the same count and sum of row hashes
    as kept by the pre-hook) keeps their stamp; any other gets this build's start. A row's hash is of
    every column but the stamp (`*columns(...)`, so that a new column is in it): a column the stored
    table lacks or holds in another place only makes the hashes differ, and the stamp new. -#}
{% macro kept_member_stamps_relation() -%}
    temp.main.kept_member_stamps__{{ this.identifier }}
{%- endmacro %}

{#- The select of `rows` (a CTE of member rows without refreshed_at) with each row's refreshed_at. -#}
{% macro with_kept_or_new_stamp(rows) -%}
    {%- if is_incremental() %}
    select {{ rows }}.*,
           case when kept.row_count = written.row_count and kept.row_hashes = written.row_hashes
                     and kept.refreshed_at is not null
                then kept.refreshed_at else {{ build_started_at() }} end as refreshed_at
    from {{ rows }}
    inner join (
        select participant_key, count(*) as row_count, sum(hash(*columns(*))) as row_hashes
        from {{ rows }} group by participant_key
    ) as written on written.participant_key is not distinct from {{ rows }}.participant_key
    left join {{ kept_member_stamps_relation() }} as kept
        on kept.participant_key is not distinct from {{ rows }}.participant_key
    {%- else %}
    select {{ rows }}.*, {{ build_started_at() }} as refreshed_at from {{ rows }}
    {%- endif %}
{%- endmacro %}

{#- marts.funder_outcomes is recounted whole (4,440 cells from 10 M member rows took 1.5 s at the end of
    every build), but only when a row it counts can have changed: the member rows' count or latest
    stamp (a participant whose rows changed gets this build's start, one whose rows came out as before
    keeps theirs, one whose rows went lowers the count; see with_kept_or_new_stamp) or the served
    members' count differ from what its last recount saw, or it has no state (a first build, the dbt
    project changed). The served members are made from the member rows alone, like every other input
    but the seed, which is part of the project. -#}
{% macro funder_outcomes_inputs() -%}
    select
        (select count(*) from {{ ref('funder_outcome_member_rows') }}) as member_rows,
        (select max(refreshed_at) from {{ ref('funder_outcome_member_rows') }}) as member_rows_stamp,
        (select count(*) from {{ ref('int_outcomes__served_members') }}) as served_members
{%- endmacro %}

{#- `true` or `false` (a constant asked of the database when executing): whether this build recounts. -#}
{% macro funder_outcomes_recounted() -%}
    {#- is_incremental() first: a unit test (which overrides it) has no relation of its own to look up -#}
    {%- set state = incremental_state() if execute and is_incremental() else none -%}
    {%- if state is none -%}true
    {%- else -%}
        {%- set unchanged = value_now(
            '(select count(*) = 1 from (' ~ funder_outcomes_inputs() ~ ') as now'
            ~ ' inner join ' ~ state ~ ' as seen on now.member_rows = seen.member_rows'
            ~ ' and now.member_rows_stamp is not distinct from seen.member_rows_stamp'
            ~ ' and now.served_members = seen.served_members)'
        ) -%}
        {{- 'false' if unchanged else 'true' -}}
    {%- endif -%}
{%- endmacro %}

{#- Post-hook: what this build's recount saw. -#}
{% macro save_funder_outcomes_inputs() -%}
    create or replace table {{ incremental_state_relation() }} as {{ funder_outcomes_inputs() }}
{%- endmacro %}
