{#- A table, not a view: the spine, the shared events and six data tests read it; as a view each of them
    recomputed the union of twelve staging tables (docs/pipeline.md, Incremental models). -#}
-- One row per event (after staging's one-row-per-source+id) of every type, that had happened by as_of,
-- with what the journey needs: its stage, its program type (enrollments and exits), its service type
-- (referrals and services) and whether it is a substance-use-treatment (42 CFR Part 2) record.
with enrolled as (
    select * from {{ ref('stg_events__participant_enrolled') }}
),

exited as (
    select * from {{ ref('stg_events__participant_exited') }}
),

requested as (
    select * from {{ ref('stg_events__referral_requested') }}
),

status_changed as (
    select * from {{ ref('stg_events__referral_status_changed') }}
),

-- The program of an enrollment, for its exits: the first enrollment of that id at that provider.
enrollment_programs as (
    select provider_id, enrollment_id, program_type
    from enrolled
    qualify row_number() over (partition by provider_id, enrollment_id order by occurred_at, event_id) = 1
),

-- The service type of a referral, for its status changes: the first request of that id.
referral_services as (
    select referral_id, service_type
    from requested
    qualify row_number() over (partition by referral_id order by occurred_at, event_id) = 1
),

unioned as (
    select event_id, provider_id, participant_key, occurred_at, 'participant.enrolled' as event_type,
           program_type, cast(null as varchar) as service_type, referral_id, loaded_at
    from enrolled
    union all
    select exited.event_id, exited.provider_id, exited.participant_key, exited.occurred_at, 'participant.exited',
           enrollment_programs.program_type, null, null, exited.loaded_at
    from exited
    left join enrollment_programs
        on enrollment_programs.provider_id = exited.provider_id
        and enrollment_programs.enrollment_id = exited.enrollment_id
    union all
    select event_id, provider_id, participant_key, occurred_at, 'consent.granted', null, null, null, loaded_at
    from {{ ref('stg_events__consent_granted') }}
    union all
    select event_id, provider_id, participant_key, occurred_at, 'consent.revoked', null, null, null, loaded_at
    from {{ ref('stg_events__consent_revoked') }}
    union all
    select event_id, provider_id, participant_key, occurred_at, 'referral.requested',
           null, service_type, referral_id, loaded_at
    from requested
    union all
    select status_changed.event_id, status_changed.provider_id, status_changed.participant_key,
           status_changed.occurred_at, 'referral.status_changed',
           null, referral_services.service_type, status_changed.referral_id, status_changed.loaded_at
    from status_changed
    left join referral_services on referral_services.referral_id = status_changed.referral_id
    union all
    select event_id, provider_id, participant_key, occurred_at, 'service.delivered',
           null, service_type, referral_id, loaded_at
    from {{ ref('stg_events__service_delivered') }}
    union all
    select event_id, provider_id, participant_key, occurred_at, 'incident.recorded', null, null, null, loaded_at
    from {{ ref('stg_events__incident_recorded') }}
    union all
    select event_id, provider_id, participant_key, occurred_at, 'custody.admitted', null, null, null, loaded_at
    from {{ ref('stg_events__custody_admitted') }}
    union all
    select event_id, provider_id, participant_key, occurred_at, 'custody.released', null, null, null, loaded_at
    from {{ ref('stg_events__custody_released') }}
    union all
    select event_id, provider_id, participant_key, occurred_at, 'justice.arrested', null, null, null, loaded_at
    from {{ ref('stg_events__justice_arrested') }}
    union all
    select event_id, provider_id, participant_key, occurred_at, 'outcome.recorded', null, null, null, loaded_at
    from {{ ref('stg_events__outcome_recorded') }}
),

classified as (
    select
        *,
        -- warehouse-v1, journey_events.stage. Exits are `service` whatever the program: the spec lists
        -- only enrollments and incidents under `intervention`, and exits under `service`.
        case
            when event_type = 'participant.enrolled'
                and program_type in ('street_outreach', 'hospital_violence_intervention',
                                     'group_violence_intervention', 'conflict_mediation')
                then 'intervention'
            when event_type = 'incident.recorded' then 'intervention'
            when event_type in ('referral.requested', 'referral.status_changed') then 'referral'
            when event_type in ('service.delivered', 'participant.enrolled', 'participant.exited') then 'service'
            when event_type in ('custody.admitted', 'justice.arrested') then 'custody'
            when event_type = 'custody.released' then 'reentry'
            when event_type = 'outcome.recorded' then 'outcome'
            when event_type in ('consent.granted', 'consent.revoked') then 'consent'
        end as stage,
        coalesce(program_type = 'substance_use_treatment' or service_type = 'substance_use_treatment', false)
            as is_part2_record
    from unioned
    where occurred_at <= {{ as_of() }}
)

select * from classified
