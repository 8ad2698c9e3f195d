with source as (
    {{ stg_events_source('referral.requested') }}
),

renamed as (
    select
        {{ stg_events_envelope() }}
        data ->> 'referral_id' as referral_id,
        data ->> 'to_provider_id' as to_provider_id,
        data ->> 'service_type' as service_type,
        data ->> 'priority' as priority,
        cast(data ->> 'contact_prohibited' as boolean) as is_contact_prohibited,
        {{ stg_events_lineage() }}
    from source
    {{ stg_events_one_row_per_event() }}
)

select * from renamed
