with source as (
    {{ stg_events_source('referral.status_changed') }}
),

renamed as (
    select
        {{ stg_events_envelope() }}
        data ->> 'referral_id' as referral_id,
        data ->> 'status' as status,
        data ->> 'status_reason' as status_reason,
        {{ stg_events_lineage() }}
    from source
    {{ stg_events_one_row_per_event() }}
)

select * from renamed
