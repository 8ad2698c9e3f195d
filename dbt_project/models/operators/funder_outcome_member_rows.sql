-- Drill-down (issues 13 and 15): the rows behind every cell of marts.funder_outcomes, for operators only.
-- One row per measure, period and member row of the int_outcomes__* models: the unit the measure counts
-- (a participant for participants_served, one row per program type and one for services; a referral for
-- the referral measures; an exit, an enrollment, a release or a mediation for the others), with its
-- pseudonymous participant key, whether it is in the numerator, the events that put it there, the
-- providers that sent them, and `groups`: every group it counts in. The same rows, from the same macro,
-- as funder_outcomes counts (macros/funder_outcome_member_groups.sql).
-- A cell's members are read when an operator opens it (continuum.web.drilldown): the rows of its measure
-- and period whose groups hold its group, one member per member_id. Building the members of all 4,000
-- cells on every build cost 60 % of a build at 100,000 participants and ran out of memory at 10 million
-- events (docs/benchmarks.md); a cell is a few thousand rows. Whether a cell may be opened at all
-- (published, not suppressed) is decided from funder_outcomes when it is opened.
-- Not sorted: sorting by cell cost 5 s of a 17 s build at 100,000 participants for a few tenths of a second
-- on opening the largest cells (0.4 s unsorted) and no smaller file.
with member_rows as (
    {{ funder_outcome_member_rows_with_groups() }}
),

-- the providers whose events these are (whose rows an operator opens), once per distinct list: a
-- referral's list is the same in its three measures and both grains
event_lists as (
    select distinct event_ids from member_rows
),

list_providers as (
    select list_events.event_ids, list_sort(list_distinct(list(events.provider_id))) as provider_ids
    from (select event_ids, unnest(event_ids) as event_id from event_lists) as list_events
    inner join {{ ref('int_events__unioned') }} as events on events.event_id = list_events.event_id
    group by list_events.event_ids
)

select
    member_rows.measure_id,
    member_rows.period_grain,
    member_rows.period_start,
    member_rows.member_id,
    member_rows.participant_key,
    member_rows.is_in_numerator,
    member_rows.program_type,
    member_rows.to_provider_id,
    member_rows.service_type,
    member_rows.groups,
    member_rows.event_ids,
    coalesce(list_providers.provider_ids, cast([] as varchar[])) as provider_ids
from member_rows
left join list_providers on list_providers.event_ids = member_rows.event_ids
