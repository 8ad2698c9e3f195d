{#-
  Incremental outcome members (docs/pipeline.md, Incremental models): the int_outcomes__* models, the
  release cohorts they read and operators.funder_outcome_member_rows keep their rows from one build to
  the next and rebuild only the participants whose member rows can have changed since the model's last
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

  The search for those participants reads every event three times; seven models need it, and after
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
    rebuild). With keep_stamps (operators.funder_outcome_member_rows), first keep the rows it replaces
    (keep_replaced_member_rows) and each rebuilt participant's digest of rows and stamp
    (kept_member_stamps), for with_kept_or_new_stamp(). -#}
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
    {%- set whole = outcome_members_rebuild_all_now() == 'true' or not stamped %}
    {{ keep_replaced_member_rows(rebuilt_rows, whole) }};
    create or replace temp table {{ kept_member_stamps_relation() }} as
    select participant_key, count(*) as row_count,
           sum(hash(*columns(*{{ ' exclude (refreshed_at)' if stamped }}))) as row_hashes,
           {{ 'max(refreshed_at)' if stamped else 'cast(null as timestamptz)' }} as refreshed_at
    {%- if whole %}
    from {{ this }}
    where {{ rebuilt_rows }}
    {%- else %}
    from {{ replaced_member_rows_relation() }}  {#- the rebuilt participants' rows, read once -#}
    {%- endif %}
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
    {#- the base is made by a hook in this run -#}
    {%- if not relation_exists_now(base) -%}{{ return(false) }}{%- endif -%}
    {%- set same = run_query(
        "select count(*) from " ~ state ~ " as mine, " ~ base ~ " as base"
        ~ " where mine.loaded_watermark is not distinct from base.loaded_watermark"
        ~ " and mine.built_as_of = base.built_as_of"
    ).columns[0].values()[0] -%}
    {{ return(same == 1) }}
{%- endmacro %}

{#- The member rows a build replaces, kept for int_outcomes__member_counts (which counts by difference):
    `intermediate.<model>__replaced` holds the rebuilt participants' rows as they were before the
    pre-hook deleted them, and the one-row `intermediate.<model>__replaced_marks` says which build
    replaced them (its start), how many rows and what latest stamp the table had before, and whether
    every row was replaced (`replaced_whole`: a rebuild of every participant, or a table without
    stamps; then no row is kept here and the counts are counted whole). Reading the rebuilt
    participants' rows costs what reading every row does (their rows lie in every vector of the table:
    docs/benchmarks.md, EV), so they are read once, here, and the kept stamps are taken from this copy. -#}
{% macro replaced_member_rows_relation() -%}
    {{ return(api.Relation.create(database=this.database, schema='intermediate',
                                  identifier='funder_outcome_member_rows__replaced')) }}
{%- endmacro %}

{% macro replaced_member_rows_marks_relation() -%}
    {{ return(api.Relation.create(database=this.database, schema='intermediate',
                                  identifier='funder_outcome_member_rows__replaced_marks')) }}
{%- endmacro %}

{#- Part of the member rows' pre-hook (`rebuilt_rows`: the predicate of the rows it deletes). -#}
{% macro keep_replaced_member_rows(rebuilt_rows, whole) -%}
    create or replace table {{ replaced_member_rows_marks_relation() }} as
    select {{ build_started_at() }} as replaced_by,
           (select count(*) from {{ this }}) as rows_before,
           {{ '(select max(refreshed_at) from ' ~ this ~ ')' if not whole else 'cast(null as timestamptz)' }}
               as stamp_before,
           {{ 'true' if whole else 'false' }} as replaced_whole;
    create or replace table {{ replaced_member_rows_relation() }} as
    select * from {{ this }}
    where {{ 'false' if whole else rebuilt_rows }}
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

{#- int_outcomes__member_counts: how many members (and how many in the numerator) each measure, period
    and set of groups has, what marts.funder_outcomes sums per group. Counted whole, from every member row,
    in a first build or one that rebuilds every participant; otherwise by difference: the counts of the
    member rows this build wrote anew (a participant whose rows changed gets this build's stamp on all of
    them) less those of the same participants' rows it replaced (funder_outcome_member_rows__replaced),
    and of the participants whose rows went (in the replaced rows, none now). A rebuilt participant whose
    rows came out as before keeps their stamp and counts as before. Recounting 8.8 M member rows took
    1.7 s at the end of every build at 10 M events; the difference reads the rows written and replaced. -#}

{#- The members of `rows` (member rows): one per measure, period and member, with every group it counts
    in. A participants_served member is a participant, its rows merged (served_members_of); in every other
    measure a member is one member row. -#}
{% macro members_of(rows) -%}
    select measure_id, period_grain, period_start, true as is_in_numerator, groups
    from ({{ served_members_of(rows) }})
    union all
    select measure_id, period_grain, period_start, is_in_numerator, groups
    from {{ rows }}
    where measure_id <> 'participants_served'
{%- endmacro %}

{#- The participants_served members of `rows` (member rows): one per participant and period, who counts
    once in `all` and once in each group of any of their rows (one per program type and one for
    services); `groups` sorted, so that the same groups make the same list. Merged whole when the counts
    are counted whole (3.7 M served rows at 10 M events), else for the changed participants only. -#}
{% macro served_members_of(rows) -%}
    select
        measure_id,
        period_grain,
        period_start,
        member_id,
        participant_key,
        list_sort(list_distinct(flatten(list(groups)))) as groups
    from {{ rows }}
    where measure_id = 'participants_served'
    group by measure_id, period_grain, period_start, member_id, participant_key
{%- endmacro %}

{#- The counts of `members` (a select of members_of's columns), one row per measure, period and groups. -#}
{% macro counted_members(members) -%}
    select
        measure_id, period_grain, period_start, groups,
        count(*) as members,
        count(*) filter (where is_in_numerator) as numerator_members
    from ({{ members }})
    group by measure_id, period_grain, period_start, groups
{%- endmacro %}

{#- Whether this build counts by difference (a constant asked of the database when executing): the model
    has its state, and the member rows were replaced in this very build, not whole, from the rows its
    last count saw (the same count of rows and the same latest stamp). Otherwise it counts whole. -#}
{% macro member_counts_by_difference() -%}
    {%- if not execute or not is_incremental() -%}{{ return(false) }}{%- endif -%}
    {%- set state = incremental_state() -%}
    {%- set marks = replaced_member_rows_marks_relation() -%}
    {%- if state is none -%}{{ return(false) }}{%- endif -%}
    {#- the marks are made by a hook in this run -#}
    {%- if not relation_exists_now(marks) -%}{{ return(false) }}{%- endif -%}
    {{ return(value_now(
        '(select count(*) = 1 from ' ~ marks ~ ' as marks, ' ~ state ~ ' as seen'
        ~ ' where not marks.replaced_whole and marks.replaced_by = ' ~ build_started_at()
        ~ ' and marks.rows_before = seen.member_rows'
        ~ ' and marks.stamp_before is not distinct from seen.member_rows_stamp)'
    )) }}
{%- endmacro %}

{% macro member_counts_difference_relation() -%}
    temp.main.member_counts_difference__{{ this.identifier }}
{%- endmacro %}

{#- Pre-hook: counting by difference, work out the new counts of the cells that change (the temporary
    member_counts_difference) and delete their stored rows; counting whole, delete every row. -#}
{% macro delete_changed_member_counts() -%}
    {%- if not is_incremental() -%}
    select 1  {#- nothing to delete: the table is built whole -#}
    {%- elif member_counts_by_difference() -%}
    {%- set cell = ['measure_id', 'period_grain', 'period_start', 'groups'] -%}
    create or replace temp table {{ member_counts_difference_relation() }} as
    with written as (  -- the member rows this build wrote anew: every row of a participant whose rows changed
        select * from {{ ref('funder_outcome_member_rows') }} where refreshed_at = {{ build_started_at() }}
    ),
    replaced as (
        select * from {{ replaced_member_rows_relation() }}
    ),
    changed_participants as (
        select participant_key from written
        union
        select participant_key from replaced  -- whose rows went
        where not exists (
            select 1 from {{ ref('funder_outcome_member_rows') }} as now
            where now.participant_key is not distinct from replaced.participant_key
        )
    ),
    replaced_changed as (
        select replaced.* from replaced
        where exists (
            select 1 from changed_participants as changed
            where changed.participant_key is not distinct from replaced.participant_key
        )
    ),
    difference as (
        select {{ cell | join(', ') }},
               sum(members) as members, sum(numerator_members) as numerator_members
        from (
            {{ counted_members(members_of('written')) }}
            union all
            select {{ cell | join(', ') }}, -members, -numerator_members
            from ({{ counted_members(members_of('replaced_changed')) }})
        )
        group by {{ cell | join(', ') }}
        having sum(members) <> 0 or sum(numerator_members) <> 0
    )
    select
        {%- for column in cell %}
        difference.{{ column }},
        {%- endfor %}
        -- bigint, as count(*) gives them counted whole (a sum is a hugeint: the model's columns would
        -- change type, and dbt's sync_all_columns rewrote both columns of every row)
        cast(coalesce(stored.members, 0) + difference.members as bigint) as members,
        cast(coalesce(stored.numerator_members, 0) + difference.numerator_members as bigint) as numerator_members
    from difference
    left join {{ this }} as stored on {{ same_cell('stored', 'difference', cell) }};
    delete from {{ this }} as stored
    using {{ member_counts_difference_relation() }} as changed
    where {{ same_cell('stored', 'changed', cell) }}
    {%- else -%}
    delete from {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- `left` and `right` hold the same cell: equal in each of the `cell` columns, nulls included. -#}
{% macro same_cell(left, right, cell) -%}
    {%- for column in cell -%}
    {{ left }}.{{ column }} is not distinct from {{ right }}.{{ column }}{{ ' and ' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{#- Post-hook: what the member rows were when this count was made (and how it was made). -#}
{% macro save_member_counts_state(by_difference) -%}
    create or replace table {{ incremental_state_relation() }} as
    select
        (select count(*) from {{ ref('funder_outcome_member_rows') }}) as member_rows,
        (select max(refreshed_at) from {{ ref('funder_outcome_member_rows') }}) as member_rows_stamp,
        {{ 'true' if by_difference else 'false' }} as counted_by_difference
{%- endmacro %}
