{#- A table, not a view: the spine, the shared events and six data tests read it; as a view each of them
    recomputed the union of twelve staging tables (docs/pipeline.md, Incremental models).
    Incremental on (provider_id, event_id): a staged event never changes, so a build (re)writes only the
    events loaded since the last build, those timed between its as_of and this one's, and the exits and
    status changes whose derived column (the enrollment's program, the referral's service) can have
    changed: their enrollment or request was loaded since; of those, it deletes only the events loaded
    before (macros/replace_kept_keys). The post-hook drops the events after as_of (it
    moved back). Each row written carries the build's start (`refreshed_at`), which is how the shared
    events and journey_events find what changed without comparing every event. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_kept_keys',
    unique_key=['provider_id', 'event_id'],
    on_schema_change='sync_all_columns',
    post_hook=[
        "delete from {{ this }} where occurred_at > {{ as_of() }}",
        "{{ save_incremental_state(staged_event_models()) }}",
    ]
) }}
-- One row per event (after staging's one-row-per-source+id) of every type, that had happened by as_of,
-- with what the journey needs: its stage, its program type (enrollments and exits), its service type
-- (referrals and services) and whether it is a substance-use-treatment (42 CFR Part 2) record.
-- enrolled and requested are read more than once: not materialized, or DuckDB copies every row of both
-- before filtering (0.77 GB of memory at 10 M events, against 0.3 GB reading the tables again).
with enrolled as not materialized (
    select * from {{ ref('stg_events__participant_enrolled') }}
),

exited as (
    select * from {{ ref('stg_events__participant_exited') }}
),

requested as not materialized (
    select * from {{ ref('stg_events__referral_requested') }}
),

status_changed as (
    select * from {{ ref('stg_events__referral_status_changed') }}
),

-- The exits and status changes this build writes (see the model's note), before their derived column:
-- numbering every enrollment and request to find it took 1.8 s of a build with nothing new at 10 M events.
exits_written as (
    select * from exited
    where {{ event_is_rewritten('exited') }}
    {%- if is_incremental() %}
       or exists (  -- an enrollment of it loaded since: its program can have changed
           select 1 from enrolled
           where enrolled.provider_id = exited.provider_id and enrolled.enrollment_id = exited.enrollment_id
             and {{ loaded_since_last_build('enrolled.loaded_at') }}
       )
    {%- endif %}
),

status_changes_written as (
    select * from status_changed
    where {{ event_is_rewritten('status_changed') }}
    {%- if is_incremental() %}
       or exists (  -- a request of its referral loaded since: its service can have changed
           select 1 from requested
           where requested.referral_id = status_changed.referral_id
             and {{ loaded_since_last_build('requested.loaded_at') }}
       )
    {%- endif %}
),

-- The program of an enrollment, for its exits: the first enrollment of that id at that provider.
enrollment_programs as (
    select provider_id, enrollment_id, program_type
    from enrolled
    semi join exits_written using (provider_id, enrollment_id)
    qualify row_number() over (partition by provider_id, enrollment_id order by occurred_at, event_id) = 1
),

-- The service type of a referral, for its status changes: the first request of that id.
referral_services as (
    select referral_id, service_type
    from requested
    semi join status_changes_written using (referral_id)
    qualify row_number() over (partition by referral_id order by occurred_at, event_id) = 1
),

unioned as (
    select event_id, provider_id, participant_key, occurred_at, 'participant.enrolled' as event_type,
           program_type, cast(null as varchar) as service_type, referral_id, loaded_at
    from enrolled
    where {{ event_is_rewritten() }}
    union all
    select exited.event_id, exited.provider_id, exited.participant_key, exited.occurred_at, 'participant.exited',
           enrollment_programs.program_type, null, null, exited.loaded_at
    from exits_written as exited
    left join enrollment_programs
        on enrollment_programs.provider_id = exited.provider_id
        and enrollment_programs.enrollment_id = exited.enrollment_id
    union all
    select event_id, provider_id, participant_key, occurred_at, 'consent.granted', null, null, null, loaded_at
    from {{ ref('stg_events__consent_granted') }}
    where {{ event_is_rewritten() }}
    union all
    select event_id, provider_id, participant_key, occurred_at, 'consent.revoked', null, null, null, loaded_at
    from {{ ref('stg_events__consent_revoked') }}
    where {{ event_is_rewritten() }}
    union all
    select event_id, provider_id, participant_key, occurred_at, 'referral.requested',
           null, service_type, referral_id, loaded_at
    from requested
    where {{ event_is_rewritten() }}
    union all
    select status_changed.event_id, status_changed.provider_id, status_changed.participant_key,
           status_changed.occurred_at, 'referral.status_changed',
           null, referral_services.service_type, status_changed.referral_id, status_changed.loaded_at
    from status_changes_written as status_changed
    left join referral_services on referral_services.referral_id = status_changed.referral_id
    union all
    select event_id, provider_id, participant_key, occurred_at, 'service.delivered',
           null, service_type, referral_id, loaded_at
    from {{ ref('stg_events__service_delivered') }}
    where {{ event_is_rewritten() }}
    union all
    select event_id, provider_id, participant_key, occurred_at, 'incident.recorded', null, null, null, loaded_at
    from {{ ref('stg_events__incident_recorded') }}
    where {{ event_is_rewritten() }}
    union all
    select event_id, provider_id, participant_key, occurred_at, 'custody.admitted', null, null, null, loaded_at
    from {{ ref('stg_events__custody_admitted') }}
    where {{ event_is_rewritten() }}
    union all
    select event_id, provider_id, participant_key, occurred_at, 'custody.released', null, null, null, loaded_at
    from {{ ref('stg_events__custody_released') }}
    where {{ event_is_rewritten() }}
    union all
    select event_id, provider_id, participant_key, occurred_at, 'justice.arrested', null, null, null, loaded_at
    from {{ ref('stg_events__justice_arrested') }}
    where {{ event_is_rewritten() }}
    union all
    select event_id, provider_id, participant_key, occurred_at, 'outcome.recorded', null, null, null, loaded_at
    from {{ ref('stg_events__outcome_recorded') }}
    where {{ event_is_rewritten() }}
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
            as is_part2_record,
        {{ build_started_at() }} as refreshed_at
    from unioned
    where occurred_at <= {{ as_of() }}
)

select * from classified
