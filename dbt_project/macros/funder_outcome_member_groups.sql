{#-
  The rows behind funder_outcomes and its drill-down, in two macros, so that a number and its
  drill-down cannot disagree:
  - funder_outcome_member_rows: the member rows of the int_outcomes__* models (one row per measure,
    period and member, consenting participants only; participants_served has one per program type, and
    one with no program type for services), with participant_key, is_in_numerator, the columns that group
    them and event_ids. `union all by name` lets funder_outcomes' unit tests leave out event_ids.
  - funder_outcome_member_groups: those rows in every group they count in, one row per measure, period,
    group (`all`, and each dimension value the member has) and member row, without event_ids.
    marts.funder_outcomes counts these rows and operators.funder_outcome_members lists them.
  Not every group applies to every measure: the seed funder_measure_dimensions says which do, and
  funder_outcomes joins it; the drill-down lists only the groups funder_outcomes published.
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

{% macro funder_outcome_member_groups() %}
    with members as (
        {{ funder_outcome_member_rows() }}
    ),

    demographics as (
        select * from {{ ref('int_participants__demographics') }}
    )

    select measure_id, period_grain, period_start, 'all' as dimension, 'all' as dimension_value,
           member_id, participant_key, is_in_numerator
    from members
    union all
    select measure_id, period_grain, period_start, 'program_type', program_type, member_id,
           participant_key, is_in_numerator
    from members where program_type is not null
    union all
    select measure_id, period_grain, period_start, 'to_provider_id', to_provider_id, member_id,
           participant_key, is_in_numerator
    from members where to_provider_id is not null
    union all
    select measure_id, period_grain, period_start, 'service_type', service_type, member_id,
           participant_key, is_in_numerator
    from members where service_type is not null
    union all
    select members.measure_id, members.period_grain, members.period_start,
           demographics.dimension, demographics.dimension_value, members.member_id,
           members.participant_key, members.is_in_numerator
    from members
    inner join demographics on demographics.participant_key = members.participant_key
{% endmacro %}
