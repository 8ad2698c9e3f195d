{#-
  The rows behind funder_outcomes and its drill-down, in macros, so that a number and its drill-down
  cannot disagree:
  - funder_outcome_member_rows: the member rows of the int_outcomes__* models (one row per measure,
    period and member, consenting participants only; participants_served has one per program type, and
    one with no program type for services), with participant_key, is_in_numerator, the columns that group
    them and event_ids. `union all by name` lets funder_outcomes' unit tests leave out event_ids.
  - funder_outcome_member_rows_with_groups: those rows with `groups`, every group each counts in: `all`,
    its program type, to_provider_id and service_type when it has one, and the participant's gender and
    race/ethnicity groups (int_participants__demographics). operators.funder_outcome_member_rows stores
    them, and the drill-down lists a cell's members as the rows whose groups hold the cell's group.
  - funder_outcome_member_groups: the same rows once per group, without event_ids: what
    marts.funder_outcomes counts.
  Not every group applies to every measure: the seed funder_measure_dimensions says which do, and
  funder_outcomes joins it; the drill-down opens only the cells funder_outcomes published.
  Macros, not models, so that funder_outcomes' unit tests keep giving the int_outcomes__* rows directly.
-#}
{% macro funder_outcome_member_rows() %}
    select * from {{ ref('int_outcomes__participants_served') }}
    union all by name
    select * from {{ ref('int_outcomes__referrals') }}
    union all by name
    select * from {{ ref('int_outcomes__programs') }}
    union all by name
    select * from {{ ref('int_outcomes__reentry') }}
    union all by name
    select * from {{ ref('int_outcomes__mediation') }}
{% endmacro %}

{% macro member_group(dimension, value) -%}
    {'dimension': {{ dimension }}, 'dimension_value': {{ value }}}
{%- endmacro %}

{% macro funder_outcome_member_rows_with_groups() %}
    with members as (
        {{ funder_outcome_member_rows() }}
    ),

    demographic_groups as (  -- a participant's gender and race/ethnicity groups, as one list
        select participant_key, list({{ member_group('dimension', 'dimension_value') }}) as groups
        from {{ ref('int_participants__demographics') }}
        group by participant_key
    )

    select
        members.*,
        -- list_concat skips a null list: a participant with no demographics row has no such group
        list_concat(
            list_filter(
                [
                    {{ member_group("'all'", "'all'") }},
                    case when members.program_type is not null
                        then {{ member_group("'program_type'", 'members.program_type') }} end,
                    case when members.to_provider_id is not null
                        then {{ member_group("'to_provider_id'", 'members.to_provider_id') }} end,
                    case when members.service_type is not null
                        then {{ member_group("'service_type'", 'members.service_type') }} end
                ],
                lambda member_group: member_group is not null
            ),
            demographic_groups.groups
        ) as groups
    from members
    left join demographic_groups on demographic_groups.participant_key = members.participant_key
{% endmacro %}

{% macro funder_outcome_member_groups() %}
    select
        measure_id, period_grain, period_start,
        member_group.dimension, member_group.dimension_value,
        member_id, participant_key, is_in_numerator
    from (
        select *, unnest(groups) as member_group
        from ({{ funder_outcome_member_rows_with_groups() }})
    )
{% endmacro %}
