with source as (
    {{ stg_events_source('service.delivered', {
        'service_id': 'VARCHAR',
        'service_type': 'VARCHAR',
        'duration_minutes': 'VARCHAR',
        'referral_id': 'VARCHAR'
    }) }}
),

renamed as (
    select
        {{ stg_events_envelope() }}
        fields.service_id as service_id,
        fields.service_type as service_type,
        cast(fields.duration_minutes as integer) as duration_minutes,
        fields.referral_id as referral_id,
        {{ stg_events_lineage() }}
    from source
    {{ stg_events_one_row_per_event() }}
)

select * from renamed
