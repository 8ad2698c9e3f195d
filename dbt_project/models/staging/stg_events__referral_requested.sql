with source as (
    {{ stg_events_source('referral.requested', {
        'referral_id': 'VARCHAR',
        'to_provider_id': 'VARCHAR',
        'service_type': 'VARCHAR',
        'priority': 'VARCHAR',
        'contact_prohibited': 'VARCHAR'
    }) }}
),

renamed as (
    select
        {{ stg_events_envelope() }}
        fields.referral_id as referral_id,
        fields.to_provider_id as to_provider_id,
        fields.service_type as service_type,
        fields.priority as priority,
        cast(fields.contact_prohibited as boolean) as is_contact_prohibited,
        {{ stg_events_lineage() }}
    from source
    {{ stg_events_one_row_per_event() }}
)

select * from renamed
