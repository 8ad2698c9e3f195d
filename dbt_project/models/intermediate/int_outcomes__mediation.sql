-- funder_outcomes.mediation_no_retaliation_90d: conflict_mediated incidents of consenting participants
-- in the period whose 90 days have elapsed; numerator: no retaliation_threat (any role) and no gunshot,
-- stab or assault injury as a victim for that participant 1 to 90 days after the mediation.
-- event_ids (operators' drill-down): the mediation, then the retaliation that keeps it out of the numerator;
-- provider_ids: who sent them.
-- Incremental by participant (macros/incremental_outcomes.sql): only the participants whose rows can
-- have changed since the last build are rebuilt.
{{ outcome_members_config() }}

with {{ rebuilt_consenting_participants() }}

incidents as (
    select *, cast(occurred_at as date) as occurred_on
    from {{ ref('stg_events__incident_recorded') }}
    where occurred_at <= {{ as_of() }}
),

mediations as (
    select incidents.*
    from incidents
    inner join consenting on consenting.participant_key = incidents.participant_key
    where incidents.incident_type = 'conflict_mediated'
),

retaliation_on as (
    select participant_key, event_id, provider_id, occurred_on
    from incidents
    where incident_type = 'retaliation_threat'
       or (incident_type in ('gunshot_injury', 'stab_injury', 'assault_injury') and participant_role = 'victim')
),

mediated as (  -- each mediation whose 90 days have elapsed, with the retaliation on days 1 to 90
    select
        mediations_in_periods.*,
        (
            select list(
                {'event_id': retaliation_on.event_id, 'provider_id': retaliation_on.provider_id}
                order by retaliation_on.occurred_on, retaliation_on.event_id
            )
            from retaliation_on
            where retaliation_on.participant_key = mediations_in_periods.participant_key
              and retaliation_on.occurred_on
                  between mediations_in_periods.occurred_on + 1 and mediations_in_periods.occurred_on + 90
        ) as retaliations
    from ({{ in_periods('mediations', 'mediations.occurred_on') }}) as mediations_in_periods
    where mediations_in_periods.occurred_on + 90 < {{ as_of_date() }}
)

select
    'mediation_no_retaliation_90d' as measure_id,
    mediated.period_grain,
    mediated.period_start,
    mediated.event_id as member_id,
    mediated.participant_key,
    mediated.retaliations is null as is_in_numerator,
    cast(null as varchar) as program_type,
    cast(null as varchar) as to_provider_id,
    cast(null as varchar) as service_type,
    -- the mediation, then the retaliation that keeps it out of the numerator
    list_concat([mediated.event_id], {{ event_ids_of('mediated.retaliations') }}) as event_ids,
    list_sort(list_distinct(
        list_concat([mediated.provider_id], {{ provider_ids_of('mediated.retaliations') }})
    )) as provider_ids,
    {{ build_started_at() }} as refreshed_at  -- written by this build: what the member rows read since
from mediated
