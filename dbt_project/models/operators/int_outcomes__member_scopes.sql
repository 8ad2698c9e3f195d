{{ config(schema='intermediate') }}
-- The event lists the drill-down can show, one row per measure, period, member and event scope, each
-- with member_ref: a number for its (member_id, participant_key, event_ids), shared by every scope, measure
-- and period with the same ones (a referral's request and status changes are the same list in its three
-- referral measures and both grains). operators.funder_outcome_members names its members by member_ref,
-- operators.funder_outcome_member_events holds each member_ref's ids once: the lists are not repeated in
-- every group a member counts in (they were 350 MB of 607 MB at 100,000 participants, issue 13).
-- The scope of a cell's member is the member's rows in that cell (operators.funder_outcome_members, before:
-- the union of their event_ids). Only participants_served has several rows per member (one per program
-- type, one for services), and they differ only by program type (singular test
-- funder_outcome_member_rows_differ_by_program_type), so two scopes cover every cell:
--   event_scope null: all the member's rows (groups all, gender, race_ethnicity, to_provider_id, service_type);
--   event_scope = a program type: the member's row of that program type (group program_type).
-- In schema intermediate: the build needs it, readers do not (continuum.pipeline.publish skips it).
-- member_ref numbers the distinct lists in their own order, so the same rows give the same numbers in every
-- build (incremental or full).
with member_rows as (
    {{ funder_outcome_member_rows() }}
),

scopes as materialized (
    select
        measure_id, period_grain, period_start, member_id,
        cast(null as varchar) as event_scope,
        min(participant_key) as participant_key,
        list_sort(list_distinct(flatten(list(event_ids)))) as event_ids
    from member_rows
    group by measure_id, period_grain, period_start, member_id
    union all
    select  -- a member has at most one row per program type: the row is the scope
        measure_id, period_grain, period_start, member_id,
        program_type as event_scope,
        participant_key,
        list_sort(list_distinct(event_ids)) as event_ids
    from member_rows
    where program_type is not null
),

-- numbered once per distinct list, then joined back: a third of the time of ranking every scope (the
-- sort on lists is what costs)
member_refs as (
    select
        member_id, participant_key, event_ids,
        cast(row_number() over (order by member_id, participant_key, event_ids) as integer) as member_ref
    from (select distinct member_id, participant_key, event_ids from scopes)
)

select
    scopes.measure_id,
    scopes.period_grain,
    scopes.period_start,
    scopes.member_id,
    scopes.event_scope,
    scopes.participant_key,
    scopes.event_ids,
    member_refs.member_ref
from scopes
inner join member_refs
    on member_refs.member_id = scopes.member_id
    and member_refs.participant_key = scopes.participant_key
    and member_refs.event_ids = scopes.event_ids
