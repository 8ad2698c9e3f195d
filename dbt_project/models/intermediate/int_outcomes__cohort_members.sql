-- Who is in the cohort (the denominator) of each measure of funder_outcomes, per period, and whether
-- they are in the numerator (warehouse-v1, marts.funder_outcomes). One row per measure, period and
-- cohort member (a referral, an exit, an enrollment, a release, an incident or, for
-- participants_served, a participant), repeated per program_type where the measure is grouped by it.
-- Only participants consenting at as_of count. A member whose window has not fully elapsed by as_of
-- is left out (never counted as a failure). "N days after": UTC dates, day 0 = the cohort event's date;
-- a window of N days has elapsed when as_of's date is after day N.
with consenting as (
    select participant_key from {{ ref('int_participants__spine') }} where is_consenting
),

spells as (
    select spells.*, cast(spells.enrolled_at as date) as enrolled_on
    from {{ ref('int_participants__enrollment_spells') }} as spells
    inner join consenting on consenting.participant_key = spells.participant_key
),

services as (
    select services.participant_key, cast(services.occurred_at as date) as served_on
    from {{ ref('stg_events__service_delivered') }} as services
    inner join consenting on consenting.participant_key = services.participant_key
    where services.occurred_at <= {{ as_of() }}
),

referrals as (
    select referrals.*, cast(referrals.requested_at as date) as requested_on
    from {{ ref('referral_handoffs') }} as referrals
    inner join consenting on consenting.participant_key = referrals.participant_key
),

releases as (
    select releases.*
    from {{ ref('int_participants__release_cohorts') }} as releases
    inner join consenting on consenting.participant_key = releases.participant_key
),

incidents as (
    select incidents.*, cast(incidents.occurred_at as date) as occurred_on
    from {{ ref('stg_events__incident_recorded') }} as incidents
    where incidents.occurred_at <= {{ as_of() }}
),

injured_on as (  -- an injury as a victim
    select participant_key, occurred_on
    from incidents
    where incident_type in ('gunshot_injury', 'stab_injury', 'assault_injury') and participant_role = 'victim'
),

-- participants_served: every quarter and year an enrollment spell overlaps (up to as_of), and the
-- period of every service. A participant counts once per period, and once per program type.
spell_periods as (
    select
        grains.period_grain,
        cast(unnest(generate_series(
            date_trunc(grains.period_grain, spells.enrolled_on),
            cast(cast(coalesce(spells.exited_at, {{ as_of() }}) as date) as timestamp),
            case grains.period_grain when 'quarter' then interval 3 month else interval 1 year end
        )) as date) as period_start,
        spells.participant_key,
        spells.program_type
    from spells
    cross join (values ('quarter'), ('year')) as grains (period_grain)
),

participants_served as (
    select distinct
        'participants_served' as measure_id, period_grain, period_start,
        participant_key as member_id, participant_key, true as is_in_numerator,
        program_type, cast(null as varchar) as to_provider_id, cast(null as varchar) as service_type
    from (
        select period_grain, period_start, participant_key, program_type from spell_periods
        union all
        select period_grain, period_start, participant_key, null
        from ({{ in_periods('services', 'services.served_on') }})
    )
),

referral_response_48h as (
    select
        'referral_response_48h' as measure_id, period_grain, period_start,
        referral_id as member_id, participant_key,
        coalesce(first_response_at <= requested_at + interval 48 hour, false) as is_in_numerator,
        null as program_type, to_provider_id, service_type
    from ({{ in_periods('referrals', 'referrals.requested_on') }})
    where final_status <> 'entered-in-error'
      and requested_at + interval 48 hour <= {{ as_of() }}
),

referral_loop_closed_90d as (
    select
        'referral_loop_closed_90d', period_grain, period_start, referral_id, participant_key,
        coalesce(cast(closed_at as date) <= requested_on + 90, false),
        null, to_provider_id, service_type
    from ({{ in_periods('referrals', 'referrals.requested_on') }})
    where final_status <> 'entered-in-error'
      and requested_on + 90 < {{ as_of_date() }}
),

referral_connected as (
    select
        'referral_connected', period_grain, period_start, referral_id, participant_key,
        is_connected,
        null, to_provider_id, service_type
    from ({{ in_periods('referrals', 'referrals.requested_on') }})
    where accepted_at is not null
),

exits as (
    select spells.*, cast(spells.exited_at as date) as exited_on
    from spells
    where spells.exited_at is not null
),

program_completion as (
    select
        'program_completion', period_grain, period_start, exit_event_id, participant_key,
        exit_reason = 'completed',
        program_type, null, null
    from ({{ in_periods('exits', 'exits.exited_on') }})
    where exit_reason <> 'deceased'
),

hvi_enrollments as (
    select * from spells where program_type = 'hospital_violence_intervention'
),

violent_reinjury_12m as (
    select
        'violent_reinjury_12m', period_grain, period_start, enrollment_event_id, participant_key,
        exists (
            select 1 from injured_on
            where injured_on.participant_key = hvi.participant_key
              and injured_on.occurred_on between hvi.enrolled_on + 1 and hvi.enrolled_on + 365
        ),
        null, null, null
    from ({{ in_periods('hvi_enrollments', 'hvi_enrollments.enrolled_on') }}) as hvi
    where enrolled_on + 365 < {{ as_of_date() }}
),

reentry_linkage_30d as (
    select 'reentry_linkage_30d', period_grain, period_start, release_event_id, participant_key,
           is_linked_within_30d, null, null, null
    from releases
    where has_30d_elapsed
),

rearrest_12m as (
    select 'rearrest_12m', period_grain, period_start, release_event_id, participant_key,
           is_rearrested_within_365d, null, null, null
    from releases
    where has_365d_elapsed
),

reincarceration_12m as (
    select 'reincarceration_12m', period_grain, period_start, release_event_id, participant_key,
           is_reincarcerated_within_365d, null, null, null
    from releases
    where has_365d_elapsed
),

employment_180d as (
    select 'employment_180d', period_grain, period_start, release_event_id, participant_key,
           is_employed_within_180d, null, null, null
    from releases
    where has_180d_elapsed
),

mediations as (
    select incidents.*
    from incidents
    inner join consenting on consenting.participant_key = incidents.participant_key
    where incidents.incident_type = 'conflict_mediated'
),

mediation_no_retaliation_90d as (
    select
        'mediation_no_retaliation_90d', period_grain, period_start, event_id, participant_key,
        not exists (
            select 1 from incidents as later
            where later.participant_key = mediated.participant_key
              and later.occurred_on between mediated.occurred_on + 1 and mediated.occurred_on + 90
              and (later.incident_type = 'retaliation_threat'
                   or (later.incident_type in ('gunshot_injury', 'stab_injury', 'assault_injury')
                       and later.participant_role = 'victim'))
        ),
        null, null, null
    from ({{ in_periods('mediations', 'mediations.occurred_on') }}) as mediated
    where occurred_on + 90 < {{ as_of_date() }}
),

members as (
    select * from participants_served
    union all select * from referral_response_48h
    union all select * from referral_loop_closed_90d
    union all select * from referral_connected
    union all select * from program_completion
    union all select * from violent_reinjury_12m
    union all select * from reentry_linkage_30d
    union all select * from rearrest_12m
    union all select * from reincarceration_12m
    union all select * from employment_180d
    union all select * from mediation_no_retaliation_90d
)

select
    measure_id,
    period_grain,
    period_start,
    member_id,
    participant_key,
    is_in_numerator,
    cast(program_type as varchar) as program_type,
    cast(to_provider_id as varchar) as to_provider_id,
    cast(service_type as varchar) as service_type
from members
