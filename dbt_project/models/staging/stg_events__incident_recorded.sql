with source as (
    {{ stg_events_source('incident.recorded') }}
),

renamed as (
    select
        {{ stg_events_envelope() }}
        data ->> 'incident_id' as incident_id,
        data ->> 'incident_type' as incident_type,
        data ->> 'role' as participant_role,
        data ->> 'outcome' as incident_outcome,
        {{ stg_events_lineage() }}
    from source
    {{ stg_events_one_row_per_event() }}
)

select * from renamed
