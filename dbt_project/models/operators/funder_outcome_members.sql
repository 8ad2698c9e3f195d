-- Drill-down (issue 15): the members behind every published (unsuppressed) cell of
-- marts.funder_outcomes, for operators only. One row per measure, period, group and member: the unit the
-- measure counts (a participant for participants_served; a referral for the referral measures; an exit,
-- an enrollment, a release or a mediation for the others), named by member_ref, with whether it is in the
-- numerator and in the denominator. Who the member is (member_id, pseudonymous participant key), the
-- events that put it there and the providers that sent them are in operators.funder_outcome_member_events,
-- once per member_ref: here they would be repeated in every group and grain the member counts in
-- (issue 13: 607 MB at 100,000 participants, now a few MB; see docs/benchmarks.md).
-- Built from the same rows as funder_outcomes (macro funder_outcome_member_groups), so that for every
-- cell the members add up to its numerator and denominator (tests/funder_outcome_members_add_up.sql).
-- Suppressed cells have no members here: a drill-down must not reveal what suppression hides.
-- Ordered by cell and member_ref: each cell is a run of rows and its refs grow, which DuckDB stores in a
-- few bits a row.
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
        -- as funder_outcomes counts them: in the numerator if any of the member's rows is
        bool_or(member_groups.is_in_numerator) as in_numerator
    from member_groups
    inner join published_cells
        on published_cells.measure_id = member_groups.measure_id
        and published_cells.period_grain = member_groups.period_grain
        and published_cells.period_start = member_groups.period_start
        and published_cells.dimension = member_groups.dimension
        and published_cells.dimension_value = member_groups.dimension_value
    group by
        member_groups.measure_id, member_groups.period_grain, member_groups.period_start,
        member_groups.dimension, member_groups.dimension_value, member_groups.member_id
)

select
    members.measure_id,
    members.period_grain,
    members.period_start,
    members.dimension,
    members.dimension_value,
    scopes.member_ref,
    members.in_numerator,
    -- participants_served has no denominator; every other measure's members are all in it
    members.measure_id <> 'participants_served' as in_denominator
from members
inner join {{ ref('int_outcomes__member_scopes') }} as scopes
    on scopes.measure_id = members.measure_id
    and scopes.period_grain = members.period_grain
    and scopes.period_start = members.period_start
    and scopes.member_id = members.member_id
    -- which of the member's rows are in the cell: its row of the program type, or all of them
    and scopes.event_scope is not distinct from
        (case when members.dimension = 'program_type' then members.dimension_value end)
order by
    members.measure_id, members.period_grain, members.period_start, members.dimension,
    members.dimension_value, scopes.member_ref
