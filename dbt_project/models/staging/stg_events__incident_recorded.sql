with source as (
    {{ stg_events_source('incident.recorded', {
        'incident_id': 'VARCHAR',
        'incident_type': 'VARCHAR',
        'role': 'VARCHAR',
        'outcome': 'VARCHAR'
    }) }}
),

renamed as (
    select
        {{ stg_events_envelope() }}
        fields.incident_id as incident_id,
        fields.incident_type as incident_type,
        fields.role as participant_role,
        fields.outcome as incident_outcome,
        {{ stg_events_lineage() }}
    from source
    {{ stg_events_one_row_per_event() }}
)

select * from renamed
