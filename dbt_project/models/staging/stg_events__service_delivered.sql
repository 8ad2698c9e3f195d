with source as (
    {{ stg_events_source('service.delivered') }}
),

renamed as (
    select
        {{ stg_events_envelope() }}
        data ->> 'service_id' as service_id,
        data ->> 'service_type' as service_type,
        cast(data ->> 'duration_minutes' as integer) as duration_minutes,
        data ->> 'referral_id' as referral_id,
        {{ stg_events_lineage() }}
    from source
    {{ stg_events_one_row_per_event() }}
)

select * from renamed
