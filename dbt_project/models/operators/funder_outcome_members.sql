-- Drill-down (issue 15): the members behind every published (unsuppressed) cell of
-- marts.funder_outcomes, for operators only. One row per measure, period, group and member: the unit
-- the measure counts (a participant for participants_served; a referral for the referral measures; an
-- exit, an enrollment, a release or a mediation for the others), with its pseudonymous participant key,
-- whether it is in the numerator and in the denominator, the events that put it there and the providers
-- that sent them.
-- Built from the same rows as funder_outcomes (macro funder_outcome_member_groups), so that for every
-- cell the members add up to its numerator and denominator (tests/funder_outcome_members_add_up.sql).
-- Suppressed cells have no members here: a drill-down must not reveal what suppression hides.
with member_groups as (
    {{ funder_outcome_member_groups() }}
),

published_cells as (
    select measure_id, period_grain, period_start, dimension, dimension_value
    from {{ ref('funder_outcomes') }}
    where not is_suppressed
),

members as (  -- one row per member of a published cell (participants_served has one per program type)
    select
        member_groups.measure_id,
        member_groups.period_grain,
        member_groups.period_start,
        member_groups.dimension,
        member_groups.dimension_value,
        member_groups.member_id,
        min(member_groups.participant_key) as participant_key,
        -- as funder_outcomes counts them: in the numerator if any of the member's rows is
        bool_or(member_groups.is_in_numerator) as in_numerator,
        -- participants_served has no denominator; every other measure's members are all in it
        member_groups.measure_id <> 'participants_served' as in_denominator,
        list_sort(list_distinct(flatten(list(member_groups.event_ids)))) as event_ids
    from member_groups
    inner join published_cells
        on published_cells.measure_id = member_groups.measure_id
        and published_cells.period_grain = member_groups.period_grain
        and published_cells.period_start = member_groups.period_start
        and published_cells.dimension = member_groups.dimension
        and published_cells.dimension_value = member_groups.dimension_value
    group by all
),

event_providers as (
    select event_id, list_sort(list_distinct(list(provider_id))) as provider_ids
    from {{ ref('int_events__unioned') }}
    group by event_id
),

-- The providers of each distinct list of event ids: many members, and one member in each group it counts
-- in, share a list, so each list is unnested once (once per member and group took 4x as long at 100,000
-- participants, for the same rows).
event_lists as (
    select distinct event_ids from members
),

list_providers as (  -- the providers whose events these are: whose rows an operator opens
    select
        event_lists.event_ids,
        list_sort(list_distinct(flatten(list(event_providers.provider_ids)))) as provider_ids
    from (select event_ids, unnest(event_ids) as event_id from event_lists) as event_lists
    inner join event_providers on event_providers.event_id = event_lists.event_id
    group by event_lists.event_ids
)

select
    members.measure_id,
    members.period_grain,
    members.period_start,
    members.dimension,
    members.dimension_value,
    members.member_id,
    members.participant_key,
    members.in_numerator,
    members.in_denominator,
    members.event_ids,
    coalesce(list_providers.provider_ids, []) as provider_ids
from members
left join list_providers on list_providers.event_ids = members.event_ids
