-- The rows behind every cell of marts.funder_outcomes (issues 13 and 15), one row per measure, period and
-- member row of the int_outcomes__* models (consenting participants only): the unit the measure counts (a
-- participant for participants_served, one row per program type and one for services; a referral for the
-- referral measures; an exit, an enrollment, a release or a mediation for the others), with its
-- pseudonymous participant key, whether it is in the numerator, the events that put it there, the
-- providers that sent them (carried from the events by each int_outcomes__* model: looking 10 million
-- events up here cost 66 of this model's 85 s), and `groups`: every group it counts in (`all`, its
-- program type, to_provider_id and service_type when it has one, and its participant's gender and
-- race/ethnicity groups, int_participants__demographics). funder_outcomes counts these rows (so a number and its drill-down
-- cannot disagree), and the operators' drill-down reads a cell's members from them when it is opened
-- (continuum.web.drilldown): the rows of its measure and period whose groups hold its group, one member
-- per member_id. Building the members of all 4,400 cells on every build cost 63 of 169 s of node time at
-- 100,000 participants and ran out of memory at 10 million events (docs/benchmarks.md). Whether a cell may
-- be opened at all (published, not suppressed) is decided from funder_outcomes when it is opened.
-- Incremental by participant like its inputs (macros/incremental_outcomes.sql): the same participants
-- are rebuilt, from their rows there, reading only the rows written since its last build.
-- Not sorted: sorting by cell cost 5 s of this model's 17 s at 100,000 participants for a few tenths of a
-- second on opening the largest cells (0.4 s unsorted) and no smaller file.
{{ outcome_members_config(refreshed_from=[
    'int_outcomes__participants_served', 'int_outcomes__referrals', 'int_outcomes__programs',
    'int_outcomes__reentry', 'int_outcomes__mediation',
], keep_stamps=true) }}

with {{ rebuilt_participants_cte() }}
member_rows as (  -- `union all by name`: the models' columns in any order; the participants rebuilt
    select * from (
        select * from {{ ref('int_outcomes__participants_served') }}
        union all by name
        select * from {{ ref('int_outcomes__referrals') }}
        union all by name
        select * from {{ ref('int_outcomes__programs') }}
        union all by name
        select * from {{ ref('int_outcomes__reentry') }}
        union all by name
        select * from {{ ref('int_outcomes__mediation') }}
    )
    where {{ outcome_member_row_is_rebuilt() }}
),

demographic_groups as (  -- a participant's gender and race/ethnicity groups, as one sorted list
    select
        participant_key,
        list(
            {'dimension': dimension, 'dimension_value': dimension_value} order by dimension, dimension_value
        ) as groups
    from {{ ref('int_participants__demographics') }}
    where {{ outcome_member_is_rebuilt() }}
    group by participant_key
),

grouped as (
    select
        member_rows.*,
        -- list_concat skips a null list: a participant with no demographics row has no such group
        list_concat(
            list_filter(
                [
                    {'dimension': 'all', 'dimension_value': 'all'},
                    case when member_rows.program_type is not null
                        then {'dimension': 'program_type', 'dimension_value': member_rows.program_type} end,
                    case when member_rows.to_provider_id is not null
                        then {'dimension': 'to_provider_id', 'dimension_value': member_rows.to_provider_id} end,
                    case when member_rows.service_type is not null
                        then {'dimension': 'service_type', 'dimension_value': member_rows.service_type} end
                ],
                lambda member_group: member_group is not null
            ),
            demographic_groups.groups
        ) as groups
    from member_rows
    left join demographic_groups on demographic_groups.participant_key = member_rows.participant_key
),

member_rows_worked_out as (
    select
        grouped.measure_id,
        grouped.period_grain,
        grouped.period_start,
        grouped.member_id,
        grouped.participant_key,
        grouped.is_in_numerator,
        grouped.program_type,
        grouped.to_provider_id,
        grouped.service_type,
        grouped.groups,
        grouped.event_ids,
        grouped.provider_ids
    from grouped
)

-- refreshed_at: when the participant's rows last changed (macros/incremental_outcomes.sql); publishing
-- compares this table by it (continuum.pipeline.publish.STAMP_COLUMN)
{{ with_kept_or_new_stamp('member_rows_worked_out') }}
