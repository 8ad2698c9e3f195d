{#-
  The members of every funder_outcomes cohort in every group they count in: a select of one row per
  measure, period, group (`all`, and each dimension value the member has) and member row of the
  int_outcomes__* models (consenting participants only), with participant_key, is_in_numerator and
  event_ids. marts.funder_outcomes counts these rows and operators.funder_outcome_members lists them:
  one definition, so that a number and its drill-down cannot disagree. Not every group applies to every
  measure: the seed funder_measure_dimensions says which do, and both models join it.
  A macro, not a model, so that funder_outcomes' unit tests keep giving the int_outcomes__* rows directly;
  `union all by name` lets them leave out event_ids, which funder_outcomes does not read.
-#}
{% macro funder_outcome_member_groups() %}
    with members as (
        select * from {{ ref('int_outcomes__participants_served') }}
        union all by name
        select * from {{ ref('int_outcomes__referrals') }}
        union all by name
        select * from {{ ref('int_outcomes__programs') }}
        union all by name
        select * from {{ ref('int_outcomes__reentry') }}
        union all by name
        select * from {{ ref('int_outcomes__mediation') }}
    ),

    demographics as (
        select * from {{ ref('int_participants__demographics') }}
    )

    select measure_id, period_grain, period_start, 'all' as dimension, 'all' as dimension_value,
           member_id, participant_key, is_in_numerator, event_ids
    from members
    union all
    select measure_id, period_grain, period_start, 'program_type', program_type, member_id,
           participant_key, is_in_numerator, event_ids
    from members where program_type is not null
    union all
    select measure_id, period_grain, period_start, 'to_provider_id', to_provider_id, member_id,
           participant_key, is_in_numerator, event_ids
    from members where to_provider_id is not null
    union all
    select measure_id, period_grain, period_start, 'service_type', service_type, member_id,
           participant_key, is_in_numerator, event_ids
    from members where service_type is not null
    union all
    select members.measure_id, members.period_grain, members.period_start,
           demographics.dimension, demographics.dimension_value, members.member_id,
           members.participant_key, members.is_in_numerator, members.event_ids
    from members
    inner join demographics on demographics.participant_key = members.participant_key
{% endmacro %}
